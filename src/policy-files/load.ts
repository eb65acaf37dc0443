// Reads policy YAML from disk (the central policy, then team/region overlays) and compiles it once.
// The only I/O around the policy: `yaml`'s parseDocument keeps node positions, so every problem the pure
// compiler finds is reported as file:line with the path inside the file and, for CEL, the expression.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isMap, isSeq, type Document } from 'yaml';
import { compilePolicy, applyOverlay } from '../core/policy/compile.ts';
import type { CompiledPolicy, PolicyError, PolicySource } from '../core/policy/types.ts';
import type { Directory } from '../core/types.ts';
import { loadDirectory } from '../pipeline/directory.ts';

export interface LoadPolicyOptions {
  /** Overlay files applied in order after the central policy. */
  overlays?: string[];
  /** A directory (or the path of a directory YAML file) to check group, role, person and on-call names against. */
  directory?: Directory | string;
}

export type LoadPolicyResult = { ok: true; policy: CompiledPolicy } | { ok: false; errors: PolicyError[] };

/** Parses YAML text into a document and a line lookup; syntax errors come back as PolicyErrors. */
export function parsePolicyYaml(text: string, file: string): { ok: true; doc: unknown; source: PolicySource } | { ok: false; errors: PolicyError[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ file, line: lines.linePos(e.pos[0]).line, path: '(yaml)', message: `not valid YAML: ${e.message.split('\n')[0]}` })),
    };
  }
  return { ok: true, doc: doc.toJS(), source: { file, lineOf: (path) => lineOf(doc, lines, path) } };
}

/** Line of the deepest node that exists along the path (a missing key points at its parent). */
function lineOf(doc: Document, lines: LineCounter, path: readonly (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    const node = (sub.length === 0 ? doc.contents : doc.getIn(sub, true)) as { range?: [number, number, number] } | null | undefined;
    if (node && node.range) {
      // For a key that exists, point at the key rather than its value when the value spans lines.
      if (n > 0) {
        const parent = (n === 1 ? doc.contents : doc.getIn(sub.slice(0, -1), true)) as unknown;
        if (isMap(parent)) {
          const pair = parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === sub[n - 1]);
          const keyRange = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
          if (keyRange) return lines.linePos(keyRange[0]).line;
        } else if (isSeq(parent)) {
          return lines.linePos(node.range[0]).line;
        }
      }
      return lines.linePos(node.range[0]).line;
    }
  }
  return 0;
}

async function readSource(path: string): Promise<{ ok: true; doc: unknown; source: PolicySource } | { ok: false; errors: PolicyError[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, errors: [{ file: path, line: 0, path: '(file)', message: code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? String(err)})` }] };
  }
  return parsePolicyYaml(text, path);
}

export async function loadPolicy(path: string, opts: LoadPolicyOptions = {}): Promise<LoadPolicyResult> {
  let directory: Directory | undefined;
  if (typeof opts.directory === 'string') {
    try {
      directory = await loadDirectory(opts.directory);
    } catch (err) {
      return { ok: false, errors: [{ file: opts.directory, line: 0, path: '(directory)', message: (err as Error).message }] };
    }
  } else directory = opts.directory;

  const central = await readSource(path);
  if (!central.ok) return central;
  const compiled = compilePolicy(central.doc, central.source, directory ? { directory } : {});
  if (!compiled.ok) return compiled;
  let policy = compiled.policy;
  const errors: PolicyError[] = [];
  for (const file of opts.overlays ?? []) {
    const src = await readSource(file);
    if (!src.ok) { errors.push(...src.errors); continue; }
    const r = applyOverlay(policy, src.doc, src.source, directory ? { directory } : {});
    if (!r.ok) errors.push(...r.errors);
    else policy = r.policy;
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, policy };
}

/** `config/policy.yaml:12: routes[0].when: unknown field 'change.enviroment' in "change.enviroment == 'production'"` */
export function formatPolicyErrors(errors: readonly PolicyError[]): string[] {
  return errors.map((e) => `${e.file}${e.line ? `:${e.line}` : ''}: ${e.path}: ${e.message}${e.expression !== undefined ? ` in ${JSON.stringify(e.expression)}` : ''}`);
}
