// `npm run bench`: every benchmark module in one run, printed as one table. Modules are found by file
// name and imported only if present; each exports an async `bench<Name>()` returning
// [{ name, figures }]. Each runs in a process of its own. A module that fails is reported and the others
// still run (exit code 1).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

/** Runs one module here and returns its rows. */
async function runModule(name: string, file: string): Promise<BenchResult[]> {
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  // bench/ingest.ts exports benchIngest(), bench/e2e.ts benchE2E(): the module's name, whatever its case.
  const fn = Object.entries(mod).find(([k, v]) => k.toLowerCase() === `bench${name}` && typeof v === 'function')?.[1] as (() => Promise<BenchResult[]>) | undefined;
  if (!fn) throw new Error(`bench/${name}.ts exports no bench${name[0]!.toUpperCase()}${name.slice(1)}() function`);
  return fn();
}

const resultsMarker = 'BENCH-RESULTS ';

if (process.env.BENCH_MODULE) {
  // A child of the run below: one module, its rows on stdout for the parent.
  const name = process.env.BENCH_MODULE;
  const rows = await runModule(name, join(import.meta.dirname, `${name}.ts`));
  process.stdout.write(`\n${resultsMarker}${JSON.stringify(rows)}\n`);
} else {
  const results: BenchResult[] = [];
  let failed = 0;
  for (const name of MODULES) {
    if (only.length > 0 && !only.includes(name)) continue;
    const file = join(import.meta.dirname, `${name}.ts`);
    if (!existsSync(file)) continue;
    process.stderr.write(`bench ${name}…\n`);
    const started = performance.now();
    try {
      // Each module in a process of its own: the load generators run in this process, and one module's
      // leftovers (the audit bench's million entries) slowed the next module's generator until the
      // ingest bench's echo and minimal receiver both measured the generator (~11 000 req/s), not the servers.
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
        env: { ...process.env, BENCH_MODULE: name },
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 64 * 1024 * 1024,
      });
      const out = child.stdout?.toString() ?? '';
      const line = out.split('\n').find((l) => l.startsWith(resultsMarker));
      if (child.status !== 0 || !line) throw new Error(`exited with ${child.status ?? child.signal}${out.trim() ? `: ${out.trim().split('\n').pop()}` : ''}`);
      const rows = JSON.parse(line.slice(resultsMarker.length)) as BenchResult[];
      results.push(...rows);
      process.stderr.write(`bench ${name}: ${rows.length} result(s) in ${Math.round((performance.now() - started) / 1000)} s\n`);
    } catch (err) {
      failed++;
      results.push({ name: `${name}: FAILED`, figures: { error: (err as Error).message.split('\n')[0] ?? 'error' } });
    }
  }
  process.stdout.write(`\n${table(results)}\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}
