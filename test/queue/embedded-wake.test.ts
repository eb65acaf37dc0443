// Two embedded queue instances on one file in one process (the hub's HTTP thread enqueues, its queue
// worker thread consumes): a consumer in one instance starts on a job made claimable by the other at
// once, not at its next idle poll.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import { openQueue } from '../../src/queue/index.ts';
import type { Job, Queue } from '../../src/queue/port.ts';

const tuning = { pollMs: 5000 };
// An idle consumer polls at 0, 10, 30, 70, 150, 310, 630, 1270 and 2550 ms after it starts. Enqueueing
// at 1800 ms leaves its next own poll at least 750 ms away, so a job handled within wakeBoundMs came
// from a wake, not from a poll.
const idleMs = 1800;
const wakeBoundMs = 300;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function queueFile(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'hub-queue-wake-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'queue.db');
}

async function open(t: TestContext, sqlitePath: string): Promise<Queue> {
  const q = await openQueue('embedded', { sqlitePath, tuning });
  t.after(() => q.close());
  return q;
}

/** Resolves with the time at which `handled` first holds the id, or rejects after pollMs. */
async function handledAt(handled: Map<string, number>, id: string): Promise<number> {
  const until = Date.now() + tuning.pollMs;
  while (!handled.has(id)) {
    if (Date.now() > until) throw new Error(`job ${id} was not handled within pollMs`);
    await sleep(2);
  }
  return handled.get(id)!;
}

test('a job enqueued on one instance wakes the idle consumer of another instance on the same file', async (t) => {
  const path = queueFile(t);
  const http = await open(t, path);
  const worker = await open(t, path);
  const handled = new Map<string, number>();
  worker.process('delivery', async (job) => {
    handled.set(job.id, Date.now());
  });
  await sleep(idleMs);

  const enqueuedAt = Date.now();
  const id = await http.enqueue({ kind: 'delivery', payload: { change: 'CHG0030001' } });

  const waited = (await handledAt(handled, id)) - enqueuedAt;
  assert.ok(waited < wakeBoundMs, `the consumer started after ${waited} ms (its idle poll is ${tuning.pollMs} ms at most)`);
});

test('the next job of a key, released when the instance running its head finishes it, wakes another instance', async (t) => {
  const path = queueFile(t);
  const leaving = await openQueue('embedded', { sqlitePath: path, tuning });
  t.after(() => leaving.close());
  const staying = await open(t, path);

  let releaseHead!: () => void;
  const headMayFinish = new Promise<void>((r) => (releaseHead = r));
  const startedOnLeaving: string[] = [];
  leaving.process('delivery', async (job) => {
    startedOnLeaving.push(job.id);
    await headMayFinish;
  });
  const head = await leaving.enqueue({ kind: 'delivery', key: 'CHG0030002', payload: { seq: 1 } });
  const next = await leaving.enqueue({ kind: 'delivery', key: 'CHG0030002', payload: { seq: 2 } });
  while (!startedOnLeaving.includes(head)) await sleep(2);

  const handled = new Map<string, number>();
  staying.process('delivery', async (job: Job<unknown>) => {
    handled.set(job.id, Date.now());
  });
  await sleep(idleMs); // the next job is held behind the head all this time
  assert.equal(handled.size, 0);

  // Shutting down, the leaving instance finishes the head and takes no new job, so only a wake can
  // get the key's next job started before the staying instance's idle poll.
  const finishedAt = Date.now();
  const closed = leaving.close();
  releaseHead();
  await closed;

  const waited = (await handledAt(handled, next)) - finishedAt;
  assert.ok(waited < wakeBoundMs, `the next job of the key started after ${waited} ms (idle poll ${tuning.pollMs} ms at most)`);
  assert.deepEqual(startedOnLeaving, [head]);
});

test('a job enqueued on the main thread is handled at once by a consumer in a worker thread', async (t) => {
  const path = queueFile(t);
  const http = await open(t, path);
  const worker = new Worker(new URL('./delivery-consumer-worker.ts', import.meta.url), { workerData: { sqlitePath: path, tuning } });
  t.after(() => worker.terminate());
  const handled = new Map<string, number>();
  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: unknown) => {
      if (m === 'ready') resolve();
      else if (typeof m === 'object' && m !== null && 'handled' in m) handled.set(String(m.handled), Date.now());
    });
    worker.once('error', reject);
  });
  await ready;
  await sleep(idleMs);

  const enqueuedAt = Date.now();
  const id = await http.enqueue({ kind: 'delivery', payload: { change: 'CHG0030003' } });

  const waited = (await handledAt(handled, id)) - enqueuedAt;
  assert.ok(waited < wakeBoundMs, `the worker thread started the job after ${waited} ms (its idle poll is ${tuning.pollMs} ms at most)`);
  const exited = new Promise<number>((r) => worker.once('exit', r));
  worker.postMessage('close');
  assert.equal(await exited, 0);
});
