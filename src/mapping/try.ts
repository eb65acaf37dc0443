// `approval-hub mappings try FILE PAYLOAD.json`: shows an integration engineer what a mapping makes of
// a payload before it is deployed. Exit codes: 0 normalized, 1 the payload does not map (field and
// reason printed), 2 the mapping or the payload file itself is bad.

import { readFile } from 'node:fs/promises';
import { loadMapping } from './load.ts';
import { normalize } from './normalize.ts';

export interface Output {
  write(text: string): unknown;
}

export async function tryMapping(file: string, payloadFile: string, out: Output): Promise<number> {
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
  // A ServiceNow Table API response wraps the record: {"result": {...}}.
  if (payload && typeof payload === 'object' && !Array.isArray(payload) && Object.keys(payload).length === 1) {
    const inner = (payload as { result?: unknown }).result;
    if (inner && typeof inner === 'object' && !Array.isArray(inner)) payload = inner;
  }
  const result = normalize(loaded.mapping, payload);
  if (!result.ok) {
    out.write(`${file}: field ${result.field}: ${result.reason}\n`);
    return 1;
  }
  out.write(`${JSON.stringify(result.value, null, 2)}\n`);
  return 0;
}
