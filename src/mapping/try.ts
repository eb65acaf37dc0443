// `approval-hub mappings try FILE PAYLOAD.json`: shows an integration engineer what a mapping makes of
// a payload before it is deployed. The payload may be the record itself or what they have in hand: a
// webhook body or API response of the mapping's system, where the record is found the way the
// connector declares (`recordLocations`). Exit codes: 0 normalized, 1 the payload does not map (no
// record found, or the field and reason), 2 the mapping or the payload file itself is bad.

import { readFile } from 'node:fs/promises';
import type { RecordLocation } from '../sdk/index.ts';
import { loadMapping } from './load.ts';
import { locateRecords, THE_PAYLOAD } from './locate.ts';
import { normalize } from './normalize.ts';

export interface Output {
  /** The canonical result (JSON), or the reason there is none. */
  write(text: string): unknown;
  /** Where the record was found (stderr in the CLI, so stdout stays JSON). */
  note?(text: string): unknown;
}

/** Where a record kind of a system sits in its payloads (the connector's declaration), if declared. */
export type RecordLocationFor = (system: string, record: string) => RecordLocation | null | undefined;

export async function tryMapping(file: string, payloadFile: string, out: Output, locationFor: RecordLocationFor = () => null): Promise<number> {
  const loaded = await loadMapping(file);
  if (!loaded.ok) {
    for (const e of loaded.errors) out.write(`${e.file}:${e.line}: ${e.reason}\n`);
    return 2;
  }
  let payload: unknown;
  try {
    payload = JSON.parse(await readFile(payloadFile, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    out.write(`${payloadFile}: ${code === 'ENOENT' ? 'no such file' : code ? `cannot read the file (${code})` : `not valid JSON (${(e as Error).message})`}\n`);
    return 2;
  }
  const { system, record } = loaded.mapping;
  const located = locateRecords(payload, locationFor(system, record) ?? THE_PAYLOAD, `${system} ${record}`);
  if (!located.ok) {
    out.write(`${payloadFile}: ${located.reason}\n`);
    return 1;
  }
  const { records, at } = located;
  if (at !== '' || records.length > 1) {
    out.note?.(`${payloadFile}: ${records.length === 1 ? `the ${record} record` : `${records.length} ${record} records`} at ${at === '' ? 'the top level' : at}\n`);
  }
  const values = [];
  for (const [i, r] of records.entries()) {
    const result = normalize(loaded.mapping, r);
    if (!result.ok) {
      const which = records.length > 1 ? ` (record ${i + 1} of ${records.length})` : '';
      out.write(`${file}: field ${result.field}: ${result.reason}${which}\n`);
      return 1;
    }
    values.push(result.value);
  }
  // One record prints as one object; a page of several as a list, in the payload's order.
  out.write(`${JSON.stringify(values.length === 1 ? values[0] : values, null, 2)}\n`);
  return 0;
}
