// Finding the record a mapping applies to inside a payload as an engineer has it: a vendor webhook body
// or API response, where the record sits under an envelope (Jira's `issue`, ServiceNow's `result`).
// The connector declares where to look (`recordLocations` in src/sdk); this reads that declaration.
import type { RecordLocation } from '../sdk/index.ts';
import { getPath, parsePath } from './path.ts';

export type Located =
  | { ok: true; records: unknown[]; at: string }
  | { ok: false; reason: string };

/** A kind the connector says nothing about: the payload is the record. */
export const THE_PAYLOAD: RecordLocation = { at: [''], has: [] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function locateRecords(payload: unknown, location: RecordLocation, what: string): Located {
  const isRecord = (v: unknown) => isObject(v) && location.has.every((f) => Object.hasOwn(v, f));
  for (const at of location.at) {
    let value: unknown = payload;
    if (at !== '') {
      const path = parsePath(at);
      if (!path.ok) return { ok: false, reason: `the connector's record location "${at}" is not a path (${path.reason})` };
      value = getPath(payload, path.segments);
    }
    if (isRecord(value)) return { ok: true, records: [value], at };
    if (Array.isArray(value) && value.length > 0 && value.every(isRecord)) return { ok: true, records: value, at };
  }
  const where = location.at.map((p) => (p === '' ? 'the payload itself' : p)).join(', ');
  const fields = location.has.length > 0 ? `an object with ${location.has.join(', ')}` : 'an object';
  return { ok: false, reason: `no ${what} record found: looked for ${fields} (or a non-empty list of them) at ${where}` };
}
