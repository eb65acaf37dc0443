// BullMQ-only cases: the sweeper that repairs a key's line after a crash (needs Redis on REDIS_URL or
// 127.0.0.1:6379). The crashes are reproduced by acting on BullMQ directly, the way a process dying
// between two Redis calls would leave things.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Queue as BullQueue, Worker } from 'bullmq';
import { openQueue } from '../../src/queue/index.ts';
import type { Queue } from '../../src/queue/port.ts';
import { deleteRedisPrefix, redisUrl, uniqueRedisPrefix } from '../support/redis.ts';

const tuning = { leaseMs: 1000, pollMs: 50, backoffBaseMs: 20, backoffMaxMs: 200, sweepMs: 200 };

async function setup(t: TestContext): Promise<{ q: Queue; prefix: string }> {
  const prefix = uniqueRedisPrefix();
  t.after(() => deleteRedisPrefix(prefix));
  const q = await openQueue(redisUrl, { redisPrefix: prefix, tuning });
  t.after(() => q.close());
  return { q, prefix };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const until = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a key whose first job never reached BullMQ (crash) gets it back from the sweeper, in order', async (t) => {
  const { q, prefix } = await setup(t);
  await q.enqueue({ kind: 'reconcile', id: 'first', key: 'servicenow-prod', payload: { n: 1 } });
  await q.enqueue({ kind: 'reconcile', id: 'second', key: 'servicenow-prod', payload: { n: 2 } });
  const raw = new BullQueue('reconcile', { connection: { url: redisUrl }, prefix });
  t.after(() => raw.close());
  const inBullmq = await raw.getJobs(['wait']);
  assert.deepEqual(inBullmq.map((j) => (j.data as { id: string }).id), ['first'], 'only the head of a line is a BullMQ job');
  await inBullmq[0]!.remove(); // as if the process died between taking its place in line and adding it
  const ran: string[] = [];
  q.process('reconcile', async (job) => {
    ran.push(job.id);
  });
  await waitFor('both jobs ran', () => ran.length === 2);
  assert.deepEqual(ran, ['first', 'second']);
});

test('a key whose first job completed without starting the next (crash) is advanced by the sweeper', async (t) => {
  const { q, prefix } = await setup(t);
  await q.enqueue({ kind: 'reconcile', id: 'first', key: 'jira-cloud', payload: {} });
  await q.enqueue({ kind: 'reconcile', id: 'second', key: 'jira-cloud', payload: {} });
  // A bare BullMQ worker completes the head without the hub's completion step: the line is not advanced.
  let bareRan = 0;
  const bare = new Worker('reconcile', async () => {
    bareRan++;
  }, { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix });
  await waitFor('the bare worker completed the first job', () => bareRan === 1);
  await bare.close();
  assert.equal((await q.depth()).reconcile.waiting, 1, 'the second job waits in line');
  const ran: string[] = [];
  q.process('reconcile', async (job) => {
    ran.push(job.id);
  });
  await waitFor('the second job ran', () => ran.length === 1);
  assert.deepEqual(ran, ['second']);
});
