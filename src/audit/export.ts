// Audit export: the chain as JSON Lines (one transition per line, in seq order) followed by one
// checkpoint line {"checkpoint":{"seq","hash","at"}}. An auditor keeps the file (or just its last
// line); verifying the store later against that checkpoint shows whether entries the export saw were
// deleted from the end or the chain was rewritten (see README.md).
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { AuditStore, Transition } from '../store/port.ts';
import { verifyChain, type Checkpoint, type VerifyReport } from './chain.ts';

export interface ExportCheckpoint extends Checkpoint {
  /** When the export was taken (ISO-8601 UTC). */
  at: string;
}

/** A line of an export file is not what `exportAudit` writes. */
export class ExportFormatError extends Error {
  override name = 'ExportFormatError';
}

/**
 * Writes every entry of the store's chain to `file` (JSONL) and ends it with the checkpoint of the
 * last entry written. Written to `file.partial` and renamed, so a crash never leaves a file that looks
 * complete. Returns the checkpoint (seq 0 and 64 zeros for an empty chain).
 */
export async function exportAudit(
  audit: Pick<AuditStore, 'scan'>,
  file: string,
  opts: { now?: () => Date; onProgress?: (written: number) => void } = {},
): Promise<ExportCheckpoint & { count: number }> {
  const partial = `${file}.partial`;
  const out = createWriteStream(partial, { encoding: 'utf8' });
  let last: Transition | null = null;
  let count = 0;
  try {
    for await (const t of audit.scan()) {
      if (!out.write(`${JSON.stringify(t)}\n`)) await once(out, 'drain');
      last = t;
      count++;
      if (opts.onProgress && count % 100_000 === 0) opts.onProgress(count);
    }
    const checkpoint: ExportCheckpoint = {
      seq: last?.seq ?? 0,
      hash: last?.hash ?? '0'.repeat(64),
      at: (opts.now ?? (() => new Date()))().toISOString(),
    };
    out.end(`${JSON.stringify({ checkpoint })}\n`);
    await once(out, 'finish');
    await rename(partial, file);
    return { ...checkpoint, count };
  } catch (err) {
    out.destroy();
    await rm(partial, { force: true });
    throw err;
  }
}

const transitionKeys = ['seq', 'changeId', 'action', 'actor', 'sourceTool', 'at', 'before', 'after', 'rationale', 'correlation', 'prevHash', 'hash'];

function parseCheckpoint(value: unknown): ExportCheckpoint | null {
  const c = (value as { checkpoint?: unknown } | null)?.checkpoint as Partial<ExportCheckpoint> | undefined;
  if (!c || typeof c !== 'object') return null;
  if (!Number.isInteger(c.seq) || typeof c.hash !== 'string' || !/^[0-9a-f]{64}$/.test(c.hash) || typeof c.at !== 'string') return null;
  return { seq: c.seq!, hash: c.hash, at: c.at };
}

/** Reads the checkpoint from the last line of an export; null if the last line is not one. */
export async function readExportCheckpoint(file: string): Promise<ExportCheckpoint | null> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, 4096);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    const lines = buf.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    const lastLine = lines[lines.length - 1];
    if (!lastLine) return null;
    try {
      return parseCheckpoint(JSON.parse(lastLine));
    } catch {
      return null;
    }
  } finally {
    await fh.close();
  }
}

/** Streams the entries of an export file; throws ExportFormatError naming the file and line. */
export async function* readExport(file: string): AsyncGenerator<Transition> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  let sawCheckpoint = false;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    if (sawCheckpoint) throw new ExportFormatError(`${file}:${n}: nothing may follow the checkpoint line`);
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new ExportFormatError(`${file}:${n}: not a JSON line`);
    }
    if (parseCheckpoint(value)) {
      sawCheckpoint = true;
      continue;
    }
    const t = value as Record<string, unknown>;
    const missing = transitionKeys.filter((k) => !(k in t));
    if (typeof value !== 'object' || value === null || Array.isArray(value) || missing.length) {
      throw new ExportFormatError(`${file}:${n}: not an audit entry (missing ${missing.join(', ') || 'fields'})`);
    }
    if (!Number.isInteger(t.seq)) throw new ExportFormatError(`${file}:${n}: seq must be an integer`);
    yield value as Transition;
  }
}

/**
 * Verifies an export file: its chain, and that it reaches its own checkpoint line (a file cut short
 * loses that line). With `checkpoint` (one saved separately from the file) the file must also reach
 * that one.
 */
export async function verifyExport(file: string, opts: { checkpoint?: Checkpoint } = {}): Promise<VerifyReport & { checkpoint: ExportCheckpoint | null }> {
  const own = await readExportCheckpoint(file);
  const checkpoint = opts.checkpoint ?? own;
  const report = await verifyChain(readExport(file), { checkpoint });
  if (!own) {
    report.problems.push({
      seq: (report.head?.seq ?? 0) + 1,
      kind: 'truncated',
      detail: `${file} has no checkpoint line at its end: the file was cut short or is not a complete export`,
    });
    report.ok = false;
  } else if (opts.checkpoint && (own.seq !== opts.checkpoint.seq || own.hash !== opts.checkpoint.hash)) {
    // The file's own last line disagrees with the saved checkpoint; the chain problems above say where.
    if (report.ok) {
      report.problems.push({ seq: own.seq, kind: 'edited', detail: `${file}'s checkpoint line differs from the checkpoint given` });
      report.ok = false;
    }
  }
  return { ...report, checkpoint: own };
}
