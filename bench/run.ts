// `npm run bench`: every benchmark module in one run, printed as one table. Modules are found by file
// name and imported only if present; each exports an async `bench<Name>()` returning
// [{ name, figures }]. A module that fails is reported and the others still run (exit code 1).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface BenchResult {
  name: string;
  figures: Record<string, number | string | boolean>;
}

const MODULES = ['http', 'policy', 'audit', 'ingest', 'queue', 'processing', 'e2e'];
const only = process.argv.slice(2);

function table(rows: BenchResult[]): string {
  const lines = rows.map((r) => [r.name, Object.entries(r.figures).map(([k, v]) => `${k}=${v}`).join('  ')] as const);
  const width = Math.max(9, ...lines.map(([n]) => n.length));
  return [`${'benchmark'.padEnd(width)}  figures`, `${'-'.repeat(width)}  ${'-'.repeat(7)}`, ...lines.map(([n, f]) => `${n.padEnd(width)}  ${f}`)].join('\n');
}

const results: BenchResult[] = [];
let failed = 0;
for (const name of MODULES) {
  if (only.length > 0 && !only.includes(name)) continue;
  const file = join(import.meta.dirname, `${name}.ts`);
  if (!existsSync(file)) continue;
  process.stderr.write(`bench ${name}…\n`);
  const started = performance.now();
  try {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    // bench/ingest.ts exports benchIngest(), bench/e2e.ts benchE2E(): the module's name, whatever its case.
    const fn = Object.entries(mod).find(([k, v]) => k.toLowerCase() === `bench${name}` && typeof v === 'function')?.[1] as (() => Promise<BenchResult[]>) | undefined;
    if (!fn) throw new Error(`bench/${name}.ts exports no bench${name[0]!.toUpperCase()}${name.slice(1)}() function`);
    const rows = await fn();
    results.push(...rows);
    process.stderr.write(`bench ${name}: ${rows.length} result(s) in ${Math.round((performance.now() - started) / 1000)} s\n`);
  } catch (err) {
    failed++;
    results.push({ name: `${name}: FAILED`, figures: { error: (err as Error).message.split('\n')[0] ?? 'error' } });
  }
}
process.stdout.write(`\n${table(results)}\n`);
process.exitCode = failed > 0 ? 1 : 0;
