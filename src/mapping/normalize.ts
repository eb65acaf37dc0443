// Applying a compiled mapping: inbound (external payload → canonical) and outbound (canonical →
// external fields). Pure functions of the mapping and the value: no I/O, no clock.

import type { JsonObject } from '../sdk/index.ts';
import { coerceIn, describe, formatTime, toJson } from './coerce.ts';
import type { CompiledField, Mapping } from './compile.ts';
import { getPath, setPath } from './path.ts';

export type NormalizeResult = { ok: true; value: JsonObject } | { ok: false; field: string; reason: string };

export function normalize(mapping: Mapping, payload: unknown): NormalizeResult {
  const out: Record<string, unknown> = {};
  for (const field of mapping.fields) {
    const got = readField(field, payload);
    if (!got.ok) return { ok: false, field: field.canonical, reason: got.reason };
    if (got.value === undefined) continue;
    setPath(out, field.canonicalSegments, got.value);
  }
  return { ok: true, value: out as JsonObject };
}

function source(field: CompiledField): string {
  if (field.from) return `from ${field.from.text}`;
  if (field.cel) return `from CEL ${field.cel.text}`;
  return 'from its default';
}

function readField(field: CompiledField, payload: unknown): { ok: true; value: unknown } | { ok: false; reason: string } {
  let raw: unknown;
  if (field.from) raw = getPath(payload, field.from.segments);
  else if (field.cel) {
    try {
      raw = toJson(field.cel.run({ payload: toCelValue(payload) }));
    } catch (e) {
      return { ok: false, reason: `CEL ${field.cel.text} failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` };
    }
  }

  let value: unknown = raw;
  // "" is ServiceNow's empty value: missing, except for a plain text field or a map that lists "".
  const empty = raw === undefined || raw === null || raw === '';
  if (field.map && (!empty || (raw === '' && field.map.has('')))) {
    const key = typeof raw === 'object' ? JSON.stringify(raw) : String(raw);
    if (field.map.has(key)) value = field.map.get(key);
    else if (field.mapDefault) value = field.mapDefault.value;
    else {
      const known = [...field.map.keys()].map((k) => `"${k}"`).join(', ');
      return { ok: false, reason: `value ${describe(raw)} (${source(field)}) is not in the value map (known: ${known})` };
    }
  } else if (raw === null && field.schema.nullable) {
    // An explicit null (a JSON null, a CEL expression answering null) is a value for a nullable field.
    return { ok: true, value: null };
  } else if (empty && (raw !== '' || field.map || field.schema.type !== 'string')) {
    value = undefined;
  }
  if (value === undefined || (value === '' && field.required)) {
    if (field.default) value = field.default.value;
    else if (field.required) return { ok: false, reason: `required but missing (${source(field)})` };
    else return { ok: true, value: undefined };
  }
  if (value === null) {
    return field.schema.nullable ? { ok: true, value: null } : { ok: true, value: undefined };
  }
  const coerced = coerceIn(value, field.schema.type, field.format);
  if (!coerced.ok) return { ok: false, reason: `${coerced.reason} (${source(field)})` };
  if (field.schema.values && !field.schema.values.includes(String(coerced.value))) {
    return { ok: false, reason: `${describe(coerced.value)} (${source(field)}) is not one of ${field.schema.values.join(', ')}` };
  }
  return { ok: true, value: coerced.value };
}

/** Outbound: the external fields this mapping writes, from a (partial) canonical value. */
export function render(mapping: Mapping, canonical: JsonObject): JsonObject {
  const out: Record<string, unknown> = {};
  for (const field of mapping.fields) {
    if (!field.to) continue;
    let value: unknown;
    if (field.toCel) {
      try {
        value = toJson(field.toCel.run({ change: toCelValue(canonical) }));
      } catch {
        // A canonical value without the fields the expression reads has nothing to render here.
        continue;
      }
    } else {
      value = getPath(canonical, field.canonicalSegments);
    }
    if (value === undefined) continue;
    if (field.map && value !== null) {
      // The first external value mapped to this canonical value is the one written back.
      const key = [...field.map].find(([, v]) => v === value)?.[0];
      if (key === undefined) continue;
      value = key;
    } else if (field.schema.type === 'datetime' && typeof value === 'string') {
      value = formatTime(value, field.format);
    }
    setPath(out, field.to.segments, value);
  }
  return out as JsonObject;
}

/** CEL distinguishes int from double; JSON integers are ints to a mapping author (`size(x) == 2`). */
function toCelValue(value: unknown): unknown {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map(toCelValue);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCelValue(v)]));
  return value;
}
