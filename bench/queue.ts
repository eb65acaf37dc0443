// Queue benchmark: 10 000 no-op jobs through each adapter, enqueue → processed, in one process with
// concurrency 16. Figures: enqueue rate alone, and end-to-end throughput from the first enqueue until
// the last job finished (enqueueing and processing overlap, as in the hub). A second run spreads the
// jobs over 100 ordering keys (like outbound jobs keyed by change), where each key runs one at a time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openQueue, type QueueDeps } from '../src/queue/index.ts';
import { deleteRedisPrefix, redisUrl, uniqueRedisPrefix } from '../test/support/redis.ts';

const jobs = 10_000;
const concurrency = 16;

async function run(url: string, deps: QueueDeps, keys: number): Promise<Record<string, number | string>> {
  const q = await openQueue(url, { ...deps, tuning: { pollMs: 50 } });
  let done = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((r) => (allDone = r));
  q.process('delivery', async () => {
    if (++done === jobs) allDone();
  }, { concurrency });
  const start = performance.now();
  // Enqueued in batches of 100 in flight, as a busy ingest would.
  for (let i = 0; i < jobs; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, jobs - i) }, (_, j) => q.enqueue({ kind: 'delivery', payload: { n: i + j }, ...(keys > 0 ? { key: `CHG${(i + j) % keys}` } : {}) })));
  }
  const enqueuedMs = performance.now() - start;
  await finished;
  const totalMs = performance.now() - start;
  await q.close();
  return {
    jobs,
    keys,
    concurrency,
    enqueuePerSec: Math.round(jobs / (enqueuedMs / 1000)),
    processedPerSec: Math.round(jobs / (totalMs / 1000)),
    totalMs: Math.round(totalMs),
  };
}

export async function benchQueue(): Promise<{ name: string; figures: Record<string, number | string> }[]> {
  const results: { name: string; figures: Record<string, number | string> }[] = [];
  for (const keys of [0, 100]) {
    const label = keys ? `, ${keys} ordering keys` : '';
    const dir = mkdtempSync(join(tmpdir(), 'hub-bench-queue-'));
    try {
      results.push({ name: `queue: embedded (SQLite file)${label}`, figures: await run('embedded', { sqlitePath: join(dir, 'queue.db') }, keys) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const prefix = uniqueRedisPrefix();
    try {
      results.push({ name: `queue: bullmq (Redis)${label}`, figures: await run(redisUrl, { redisPrefix: prefix }, keys) });
    } finally {
      await deleteRedisPrefix(prefix);
    }
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchQueue()) process.stdout.write(`${r.name}\n${JSON.stringify(r.figures, null, 2)}\n`);
}
