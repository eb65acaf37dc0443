// A separate process that claims one job of a queue file and holds it (embedded-dead-owner.test.ts
// kills it with -9 while it does).
import { openQueue } from '../../src/queue/index.ts';

const queue = await openQueue('embedded', { sqlitePath: process.argv[2]!, tuning: { leaseMs: 60_000, pollMs: 50 } });
queue.process('outbound', async (job) => {
  process.stdout.write(`running ${job.id}\n`);
  await new Promise(() => {}); // never finishes
});
