// Reading mapping files from disk (the compiled result is pure data plus compiled CEL).

import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { ConnectionSettings, JsonObject } from '../sdk/index.ts';
import { compileMapping, type Mapping, type MappingError } from './compile.ts';
import { normalize, render, type NormalizeResult } from './normalize.ts';

export type LoadResult = { ok: true; mapping: Mapping } | { ok: false; errors: MappingError[] };

export async function loadMapping(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, errors: [{ file, line: 0, reason: code === 'ENOENT' ? 'no such file' : `cannot read the file (${code ?? String(e)})` }] };
  }
  return compileMapping(text, file);
}

/** Every *.yaml / *.yml under the folder, compiled; the errors of all of them (empty: all valid). */
export async function checkMappings(dir: string): Promise<MappingError[]> {
  let files: string[];
  try {
    files = (await readdir(dir, { recursive: true })).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (e) {
    return [{ file: dir, line: 0, reason: `cannot read the mappings folder (${(e as NodeJS.ErrnoException).code ?? String(e)})` }];
  }
  const errors: MappingError[] = [];
  for (const f of files) {
    const result = await loadMapping(join(dir, f));
    if (!result.ok) errors.push(...result.errors);
  }
  return errors;
}

/** The mapping file of a record kind for a connection: its configured one, else mappings/<connector>/<kind>.yaml. */
export function mappingFileFor(connection: ConnectionSettings, kind: string): string {
  return connection.mappings[kind] ?? `${connection.connector}/${kind}.yaml`;
}

export interface ConnectionMappings {
  normalize(kind: string, payload: unknown): NormalizeResult;
  render(kind: string, canonical: JsonObject): JsonObject;
}

/**
 * Loads the mappings a connection uses (the connector's declared record kinds plus the configured ones)
 * and returns the normalize/render functions the SDK contexts expose. Errors name file, line and reason.
 */
export async function loadConnectionMappings(
  mappingsDir: string,
  connection: ConnectionSettings,
  kinds: readonly string[],
): Promise<{ ok: true; mappings: ConnectionMappings } | { ok: false; errors: MappingError[] }> {
  const byKind = new Map<string, Mapping>();
  const errors: MappingError[] = [];
  for (const kind of new Set([...kinds, ...Object.keys(connection.mappings)])) {
    const result = await loadMapping(join(mappingsDir, mappingFileFor(connection, kind)));
    if (result.ok) byKind.set(kind, result.mapping);
    else errors.push(...result.errors.map((e) => ({ ...e, file: relative(process.cwd(), e.file) || e.file })));
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    mappings: {
      normalize(kind, payload) {
        const mapping = byKind.get(kind);
        if (!mapping) return { ok: false, field: '(mapping)', reason: `connection ${connection.id} has no mapping for record kind "${kind}"` };
        return normalize(mapping, payload);
      },
      render(kind, canonical) {
        const mapping = byKind.get(kind);
        // A missing mapping is a configuration bug caught at load; rendering nothing would hide it.
        if (!mapping) throw new Error(`connection ${connection.id} has no mapping for record kind "${kind}"`);
        return render(mapping, canonical);
      },
    },
  };
}
