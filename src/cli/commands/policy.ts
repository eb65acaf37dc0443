// `approval-hub policy test DIR` and `approval-hub policy simulate --changes FILE.jsonl [--against B.yaml]`.
// Exit codes: 0 ok, 1 findings (a case failed; some input lines were unusable), 2 usage or config error.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runCaseDir } from '../../policy-files/cases.ts';
import { loadPolicy, formatPolicyErrors } from '../../policy-files/load.ts';
import { simulate, type SimulationInput } from '../../policy-files/simulate.ts';
import { loadDirectory } from '../../pipeline/directory.ts';
import type { Directory } from '../../core/types.ts';

export interface Out {
  write(text: string): unknown;
}

export interface PolicyTestOptions {
  /** Central policy for case files that do not name one (default: DIR/../policy.yaml). */
  policy?: string;
  overlays?: string[];
  json?: boolean;
  out?: Out;
}

export async function runPolicyTest(dir: string, opts: PolicyTestOptions = {}): Promise<number> {
  const out = opts.out ?? process.stdout;
  const { results, errors } = await runCaseDir(dir, { ...(opts.policy ? { policy: opts.policy } : {}), ...(opts.overlays ? { overlays: opts.overlays } : {}) });
  const failed = results.filter((r) => !r.ok);
  if (opts.json) {
    out.write(`${JSON.stringify({ passed: results.length - failed.length, failed: failed.length, errors, results }, null, 2)}\n`);
  } else {
    for (const e of errors) out.write(`error: ${e}\n`);
    for (const r of results) {
      out.write(`${r.ok ? '✓' : '✗'} ${r.file} › ${r.name}\n`);
      for (const f of r.failures) out.write(`    ${f}\n`);
    }
    out.write(`\n${results.length - failed.length} passed, ${failed.length} failed${errors.length ? `, ${errors.length} error(s)` : ''}\n`);
  }
  if (errors.length > 0) return 2;
  return failed.length > 0 ? 1 : 0;
}

export interface PolicySimulateOptions {
  changes: string;
  /** The policy to replay under (A). */
  policy: string;
  /** A second policy (B) to compare against. */
  against?: string;
  /** Directory YAML (default: directory.yaml next to the policy). */
  directory?: string;
  json?: boolean;
  out?: Out;
}

function pct(n: number, total: number): string {
  return total === 0 ? '0%' : `${Math.round((n / total) * 100)}%`;
}

export async function runPolicySimulate(opts: PolicySimulateOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  if (!opts.changes || !opts.policy) {
    out.write('usage: approval-hub policy simulate --changes FILE.jsonl --policy A.yaml [--against B.yaml]\n');
    return 2;
  }
  let directory: Directory;
  const dirPath = opts.directory ?? join(dirname(opts.policy), 'directory.yaml');
  try {
    directory = await loadDirectory(dirPath);
  } catch (err) {
    out.write(`error: ${(err as Error).message}\n`);
    return 2;
  }
  const a = await loadPolicy(opts.policy, { directory });
  const b = opts.against ? await loadPolicy(opts.against, { directory }) : null;
  for (const r of [a, b]) {
    if (r && !r.ok) {
      for (const line of formatPolicyErrors(r.errors)) out.write(`error: ${line}\n`);
      return 2;
    }
  }
  let text: string;
  try {
    text = await readFile(opts.changes, 'utf8');
  } catch (err) {
    out.write(`error: ${opts.changes}: cannot read the changes file (${(err as NodeJS.ErrnoException).code ?? String(err)})\n`);
    return 2;
  }
  const inputs: SimulationInput[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      inputs.push({ line: i + 1, record: JSON.parse(line) as unknown });
    } catch (err) {
      problems.push(`${opts.changes}:${i + 1}: not JSON (${(err as Error).message})`);
    }
  });
  const report = simulate(inputs, a.ok ? a.policy : null!, b && b.ok ? b.policy : null, directory);
  problems.push(...report.problems.map((p) => `${opts.changes}:${p.line}: ${p.message}`));

  if (opts.json) {
    out.write(`${JSON.stringify({ ...report, problems }, null, 2)}\n`);
    return problems.length > 0 ? 1 : 0;
  }
  for (const p of problems) out.write(`warning: ${p}\n`);
  const cols = b ? ['A', 'B'] as const : ['A'] as const;
  out.write(`Replayed ${report.count} change(s) from ${opts.changes}\n`);
  out.write(`  A = ${opts.policy}\n${b ? `  B = ${opts.against}\n` : ''}\n`);
  const sides = { A: report.a, B: report.b };
  const row = (label: string, f: (s: NonNullable<typeof report.a>) => string) => {
    out.write(`  ${label.padEnd(28)}${cols.map((c) => f(sides[c]!).padStart(16)).join('')}\n`);
  };
  out.write(`  ${''.padEnd(28)}${cols.map((c) => c.padStart(16)).join('')}\n`);
  const tiers = [...new Set([...Object.keys(report.a.tiers), ...Object.keys(report.b?.tiers ?? {})])];
  for (const t of tiers) row(`tier ${t}`, (s) => `${s.tiers[t] ?? 0} (${pct(s.tiers[t] ?? 0, report.count)})`);
  for (const o of ['pending-approval', 'approved', 'rejected', 'awaiting-prerequisites']) row(o === 'approved' ? 'pre-approved' : o === 'rejected' ? 'auto-rejected' : o === 'awaiting-prerequisites' ? 'blocked on prerequisites' : 'sent for approval', (s) => String(s.outcomes[o] ?? 0));
  row('steps (total)', (s) => String(s.steps));
  row('expected approvals', (s) => String(s.approvals));
  row('anomalies flagged', (s) => String(s.anomalies));
  const stepNames = [...new Set([...Object.keys(report.a.stepNames), ...Object.keys(report.b?.stepNames ?? {})])].sort();
  for (const n of stepNames) row(`  step "${n}"`, (s) => String(s.stepNames[n] ?? 0));
  if (b) {
    out.write(`\n${report.differences.length} change(s) decided differently under B\n`);
    for (const d of report.differences.slice(0, 50)) out.write(`  ${d.id}: ${d.what.join('; ')}\n`);
    if (report.differences.length > 50) out.write(`  … and ${report.differences.length - 50} more (use --json for all)\n`);
  }
  return problems.length > 0 ? 1 : 0;
}
