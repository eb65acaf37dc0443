// `approval-hub audit verify|export`: the hash chain checked in place (exit 1 and where it breaks),
// and exported as JSON Lines ending with a checkpoint an auditor keeps.
import { readFile } from 'node:fs/promises';
import type { Checkpoint, VerifyReport } from '../../audit/chain.ts';
import { verifyChain } from '../../audit/chain.ts';
import { exportAudit, readExportCheckpoint, verifyExport } from '../../audit/export.ts';
import { openStore } from '../../store/index.ts';
import type { Transition } from '../../store/port.ts';
import { config, configOption, EXIT, parse, UsageError, type Io } from '../io.ts';

export const auditUsage = `Usage:
  approval-hub audit verify [--checkpoint FILE] [--json] [--config FILE]
      Verifies the store's audit chain. --checkpoint takes an export file (its last line) or a
      {"seq","hash"} JSON file saved earlier: entries deleted or rewritten since are found too.
  approval-hub audit verify --export FILE [--checkpoint FILE] [--json]
      Verifies an export file offline (no store needed).
  approval-hub audit export --out FILE [--config FILE]
      Writes every entry as JSON Lines followed by a checkpoint line.

Exit codes: 0 the chain verifies, 1 it does not (each problem printed with its seq), 2 usage or config error.`;

export async function auditCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(`${auditUsage}\n`);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub === 'verify') {
    const { values } = parse(rest, { ...configOption, checkpoint: { type: 'string' }, export: { type: 'string' }, json: { type: 'boolean' } });
    if (values.help) return help(io);
    const saved = values.checkpoint ? await readCheckpoint(values.checkpoint) : null;
    // A checkpoint of an empty chain (seq 0) promises nothing to check against.
    const checkpoint = saved && saved.seq > 0 ? saved : null;
    let report: VerifyReport;
    if (values.export) {
      report = await verifyExport(values.export, checkpoint ? { checkpoint } : {});
    } else {
      const cfg = config(io, values.config);
      const store = await openStore(cfg.store);
      try {
        report = await verifyChain(withProgress(store.audit.scan(), io), { checkpoint });
      } finally {
        await store.close();
      }
    }
    if (values.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
    else printReport(report, io);
    return report.ok ? EXIT.ok : EXIT.findings;
  }
  if (sub === 'export') {
    const { values } = parse(rest, { ...configOption, out: { type: 'string', short: 'o' } });
    if (values.help) return help(io);
    if (!values.out) throw new UsageError('--out FILE is required');
    const cfg = config(io, values.config);
    const store = await openStore(cfg.store);
    try {
      const cp = await exportAudit(store.audit, values.out, { onProgress: (n) => io.err(`exported ${n} entries…\n`) });
      io.out(`exported ${cp.count} entries to ${values.out}; checkpoint seq ${cp.seq} hash ${cp.hash}\n`);
      return EXIT.ok;
    } finally {
      await store.close();
    }
  }
  throw new UsageError(`unknown audit command "${sub}"`);
}

function help(io: Io): number {
  io.out(`${auditUsage}\n`);
  return EXIT.ok;
}

/** An export file (checkpoint on its last line) or a small JSON file {"seq": n, "hash": "…"}. */
async function readCheckpoint(file: string): Promise<Checkpoint> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--checkpoint ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot read it'}`);
  }
  try {
    const v = JSON.parse(text) as Partial<Checkpoint> & { checkpoint?: Partial<Checkpoint> };
    const c = v.checkpoint ?? v;
    if (Number.isInteger(c.seq) && typeof c.hash === 'string' && /^[0-9a-f]{64}$/.test(c.hash)) return { seq: c.seq!, hash: c.hash };
  } catch {
    // not a single JSON document: an export file
  }
  const fromExport = await readExportCheckpoint(file);
  if (!fromExport) throw new UsageError(`--checkpoint ${file}: neither an audit export (checkpoint on its last line) nor {"seq", "hash"} JSON`);
  return { seq: fromExport.seq, hash: fromExport.hash };
}

async function* withProgress(entries: AsyncIterable<Transition>, io: Io): AsyncGenerator<Transition> {
  let n = 0;
  for await (const e of entries) {
    if (++n % 250_000 === 0) io.err(`verified ${n} entries…\n`);
    yield e;
  }
}

function printReport(r: VerifyReport, io: Io): void {
  if (r.ok) {
    io.out(`audit chain OK: ${r.checked} entries${r.head ? `, head seq ${r.head.seq} hash ${r.head.hash}` : ''}\n`);
    return;
  }
  io.out(`audit chain BROKEN: ${r.problems.length}${r.problemsTruncated ? '+' : ''} problem(s) in ${r.checked} entries\n`);
  for (const p of r.problems) io.out(`  seq ${p.seq}: ${p.kind}: ${p.detail}\n`);
}
