// The queue contract: every case runs against both adapters, the embedded SQLite queue (a temp file)
// and BullMQ (needs Redis on REDIS_URL or 127.0.0.1:6379; each test uses its own key prefix).
// Timings are shortened through `tuning` so leases expire and retries happen in milliseconds.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openQueue, type QueueDeps } from '../../src/queue/index.ts';
import { PermanentError, RetryLaterError, type Job, type Queue } from '../../src/queue/port.ts';
import { deleteRedisPrefix, redisUrl, uniqueRedisPrefix } from '../support/redis.ts';

const tuning = { leaseMs: 1000, pollMs: 50, backoffBaseMs: 20, backoffMaxMs: 200, sweepMs: 1000 };
const queueModule = fileURLToPath(new URL('../../src/queue/index.ts', import.meta.url));

/** One backend (a queue file or a Redis prefix) that any number of queue instances may share. */
interface Backend {
  url: string;
  deps: QueueDeps;
}

const adapters: { name: string; backend(t: TestContext): Backend }[] = [
  {
    name: 'embedded',
    backend(t) {
      const dir = mkdtempSync(join(tmpdir(), 'hub-queue-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      return { url: 'embedded', deps: { sqlitePath: join(dir, 'queue.db'), tuning } };
    },
  },
  {
    name: 'bullmq',
    backend(t) {
      const prefix = uniqueRedisPrefix();
      t.after(() => deleteRedisPrefix(prefix));
      return { url: redisUrl, deps: { redisPrefix: prefix, tuning } };
    },
  },
];

/** Opens a queue instance on the backend; it is closed when the test ends. */
async function open(t: TestContext, b: Backend): Promise<Queue> {
  const q = await openQueue(b.url, b.deps);
  t.after(() => q.close());
  return q;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Enqueues a marker after the jobs under test and waits for it: with concurrency 1 and no keys, the
 * queue is FIFO, so once the marker ran every earlier job has had its chance to run (again). */
async function drain(q: Queue, ran: string[]): Promise<void> {
  const marker = await q.enqueue({ kind: 'delivery', payload: { marker: true } });
  await waitFor('the marker job ran', () => ran.includes(marker));
}

for (const adapter of adapters) {
  describe(`queue contract: ${adapter.name}`, () => {
    test('an enqueued job is handed to the handler with its payload and first attempt', async (t) => {
      const q = await open(t, adapter.backend(t));
      assert.equal(q.kind, adapter.name);
      const seen: Job<{ change: string }>[] = [];
      q.process<{ change: string }>('delivery', async (job) => {
        seen.push(job);
      });
      const id = await q.enqueue({ kind: 'delivery', payload: { change: 'CHG0030001' } });
      await waitFor('the job ran', () => seen.length === 1);
      const job = seen[0]!;
      assert.equal(job.id, id);
      assert.equal(job.kind, 'delivery');
      assert.equal(job.key, null);
      assert.deepEqual(job.payload, { change: 'CHG0030001' });
      assert.equal(job.attempt, 1);
      assert.equal(job.maxAttempts, 8);
      assert.ok(!Number.isNaN(Date.parse(job.enqueuedAt)));
      await waitFor('the finished job left the queue', async () => (await q.depth()).delivery.waiting + (await q.depth()).delivery.running === 0);
    });

    test('enqueueing the same id twice while unfinished adds the job once', async (t) => {
      const q = await open(t, adapter.backend(t));
      const id = 'github:delivery:72d3162e-cc78-11e3-81ab-4c9367dc0958'; // colons: ids are opaque strings
      assert.equal(await q.enqueue({ kind: 'delivery', id, payload: { n: 1 } }), id);
      assert.equal(await q.enqueue({ kind: 'delivery', id, payload: { n: 2 } }), id);
      assert.equal((await q.depth()).delivery.waiting, 1);
      const ran: string[] = [];
      const payloads: unknown[] = [];
      q.process('delivery', async (job) => {
        ran.push(job.id);
        payloads.push(job.payload);
      });
      await drain(q, ran);
      assert.deepEqual(payloads[0], { n: 1 });
      assert.equal(ran.filter((r) => r === id).length, 1);
    });

    test('a failing job is retried with backoff, then dead-lettered after maxAttempts', async (t) => {
      const q = await open(t, adapter.backend(t));
      const attempts: number[] = [];
      q.process('outbound', async (job) => {
        attempts.push(job.attempt);
        throw new Error('ServiceNow answered 503 Service Unavailable');
      });
      const id = await q.enqueue({ kind: 'outbound', key: 'CHG0030002', payload: { intent: 'comment' }, maxAttempts: 3 });
      await waitFor('the job was dead-lettered', async () => (await q.deadLetters()).length === 1);
      assert.deepEqual(attempts, [1, 2, 3]);
      const [dead] = await q.deadLetters('outbound');
      assert.equal(dead!.id, id);
      assert.equal(dead!.kind, 'outbound');
      assert.equal(dead!.key, 'CHG0030002');
      assert.deepEqual(dead!.payload, { intent: 'comment' });
      assert.equal(dead!.attempts, 3);
      assert.match(dead!.error, /503 Service Unavailable/);
      assert.ok(!Number.isNaN(Date.parse(dead!.failedAt)));
      assert.deepEqual((await q.depth()).outbound, { waiting: 0, running: 0, dead: 1 });
      assert.deepEqual(await q.deadLetters('delivery'), []);
    });

    test('a PermanentError dead-letters the job at once', async (t) => {
      const q = await open(t, adapter.backend(t));
      const attempts: number[] = [];
      q.process('outbound', async (job) => {
        attempts.push(job.attempt);
        throw new PermanentError('Jira answered 400: field "customfield_10010" is unknown');
      });
      await q.enqueue({ kind: 'outbound', payload: {} });
      await waitFor('the job was dead-lettered', async () => (await q.deadLetters()).length === 1);
      assert.deepEqual(attempts, [1]);
      const [dead] = await q.deadLetters();
      assert.equal(dead!.attempts, 1);
      assert.match(dead!.error, /customfield_10010/);
    });

    test('a RetryLaterError runs the job again after its delay without using up an attempt', async (t) => {
      const q = await open(t, adapter.backend(t));
      const runs: { attempt: number; at: number }[] = [];
      let thrownAt = 0;
      q.process('outbound', async (job) => {
        runs.push({ attempt: job.attempt, at: Date.now() });
        if (runs.length === 1) {
          thrownAt = Date.now();
          throw new RetryLaterError('GitHub rate limit: Retry-After 0.3', 300);
        }
      });
      // maxAttempts 1: an ordinary failure would dead-letter it; a rate limit must not.
      await q.enqueue({ kind: 'outbound', payload: {}, maxAttempts: 1 });
      await waitFor('the job ran twice', () => runs.length === 2);
      assert.deepEqual(runs.map((r) => r.attempt), [1, 1]);
      assert.ok(runs[1]!.at - thrownAt >= 295, `second run came ${runs[1]!.at - thrownAt} ms after Retry-After 300 ms`);
      assert.deepEqual(await q.deadLetters(), []);
    });

    test('a job waits for an earlier unfinished job with the same key, even while that one is retrying', async (t) => {
      const q = await open(t, adapter.backend(t));
      const log: string[] = [];
      let firstRuns = 0;
      q.process<{ name: string }>('outbound', async (job) => {
        const name = job.payload.name;
        log.push(`start ${name}#${job.attempt}`);
        if (name === 'first' && ++firstRuns === 1) {
          await sleep(100); // long enough for an idle slot to pick up "second" if ordering were broken
          log.push(`fail ${name}`);
          throw new Error('Azure DevOps answered 500');
        }
        await sleep(10);
        log.push(`done ${name}`);
      }, { concurrency: 4 });
      await q.enqueue({ kind: 'outbound', key: 'CHG0030003', payload: { name: 'first' } });
      await q.enqueue({ kind: 'outbound', key: 'CHG0030003', payload: { name: 'second' } });
      await q.enqueue({ kind: 'outbound', key: 'CHG0030004', payload: { name: 'other' } });
      await waitFor('all jobs finished', () => log.includes('done second') && log.includes('done other'));
      const at = (entry: string) => log.indexOf(entry);
      assert.ok(at('start first#1') < at('fail first'));
      assert.ok(at('done first') < at('start second#1'), `second started before first finished: ${log.join(', ')}`);
      assert.equal(log.filter((e) => e.startsWith('start second')).length, 1);
      assert.ok(at('start other#1') < at('done first'), `a job with another key was held back: ${log.join(', ')}`);
    });

    test('keys are scoped per kind: a delayed timer does not hold up outbound work for the same change', async (t) => {
      const q = await open(t, adapter.backend(t));
      const ran: string[] = [];
      q.process('timer', async () => {
        ran.push('timer');
      });
      q.process('outbound', async () => {
        ran.push('outbound');
      });
      await q.enqueue({ kind: 'timer', key: 'CHG0030007', payload: {}, delayMs: 60_000 });
      await q.enqueue({ kind: 'outbound', key: 'CHG0030007', payload: {} });
      await waitFor('the outbound job ran', () => ran.includes('outbound'));
      assert.deepEqual(ran, ['outbound']);
    });

    test('a dead-lettered job releases its key', async (t) => {
      const q = await open(t, adapter.backend(t));
      const ran: string[] = [];
      q.process<{ name: string }>('outbound', async (job) => {
        ran.push(job.payload.name);
        if (job.payload.name === 'doomed') throw new PermanentError('ServiceNow answered 403');
      }, { concurrency: 2 });
      await q.enqueue({ kind: 'outbound', key: 'CHG0030005', payload: { name: 'doomed' } });
      await q.enqueue({ kind: 'outbound', key: 'CHG0030005', payload: { name: 'next' } });
      await waitFor('the next job ran', () => ran.includes('next'));
      assert.deepEqual(ran, ['doomed', 'next']);
    });

    test('a delayed job does not start before its delay', async (t) => {
      const q = await open(t, adapter.backend(t));
      const started: number[] = [];
      q.process('timer', async () => {
        started.push(Date.now());
      });
      const enqueuedAt = Date.now();
      await q.enqueue({ kind: 'timer', payload: { step: 'escalate' }, delayMs: 400 });
      assert.equal((await q.depth()).timer.waiting, 1);
      await waitFor('the timer fired', () => started.length === 1);
      assert.ok(started[0]! - enqueuedAt >= 395, `fired after ${started[0]! - enqueuedAt} ms, delay was 400 ms`);
    });

    test('depth counts waiting, running and dead jobs per kind', async (t) => {
      const q = await open(t, adapter.backend(t));
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let timerStarted = false;
      q.process('timer', async () => {
        timerStarted = true;
        await held;
      });
      q.process('reconcile', async () => {
        throw new PermanentError('connection "jira-prod" is not configured');
      });
      await q.enqueue({ kind: 'delivery', payload: {} });
      await q.enqueue({ kind: 'delivery', payload: {}, delayMs: 60_000 });
      await q.enqueue({ kind: 'outbound', payload: {} });
      await q.enqueue({ kind: 'reconcile', payload: {} });
      await q.enqueue({ kind: 'timer', payload: {} });
      await waitFor('the timer job runs and the reconcile job is dead', async () => timerStarted && (await q.depth()).reconcile.dead === 1);
      assert.deepEqual(await q.depth(), {
        delivery: { waiting: 2, running: 0, dead: 0 },
        outbound: { waiting: 1, running: 0, dead: 0 },
        reconcile: { waiting: 0, running: 0, dead: 1 },
        timer: { waiting: 0, running: 1, dead: 0 },
      });
      release();
    });

    test('replay re-queues dead letters with a fresh attempt count', async (t) => {
      const q = await open(t, adapter.backend(t));
      let broken = true;
      const runs: { id: string; attempt: number }[] = [];
      q.process('outbound', async (job) => {
        runs.push({ id: job.id, attempt: job.attempt });
        if (broken) throw new Error('PagerDuty answered 502');
      });
      const a = await q.enqueue({ kind: 'outbound', id: 'effect-a', payload: { n: 'a' }, maxAttempts: 2 });
      const b = await q.enqueue({ kind: 'outbound', id: 'effect-b', payload: { n: 'b' }, maxAttempts: 2 });
      await waitFor('both jobs are dead', async () => (await q.deadLetters()).length === 2);
      broken = false;
      assert.equal(await q.replay(['effect-a', 'no-such-job']), 1);
      await waitFor('the replayed job ran', () => runs.some((r) => r.id === a && runs.filter((x) => x.id === a).length === 3));
      assert.deepEqual(runs.filter((r) => r.id === a).map((r) => r.attempt), [1, 2, 1]);
      await waitFor('only b is left dead', async () => (await q.deadLetters()).map((d) => d.id).join() === b);
      assert.equal(await q.replay(), 1);
      await waitFor('b ran again', () => runs.filter((r) => r.id === b).length === 3);
      await waitFor('no dead letters are left', async () => (await q.deadLetters()).length === 0);
      assert.equal(await q.replay(), 0);
    });

    test('a replayed dead letter queues behind the jobs its key has now', async (t) => {
      const q = await open(t, adapter.backend(t));
      const ran: string[] = [];
      let broken = true;
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      q.process<{ name: string }>('outbound', async (job) => {
        ran.push(job.payload.name);
        if (job.payload.name === 'A' && broken) throw new PermanentError('GitLab answered 422');
        if (job.payload.name === 'C') await held;
      }, { concurrency: 4 });
      await q.enqueue({ kind: 'outbound', key: 'CHG0030009', payload: { name: 'A' } });
      await waitFor('A is dead', async () => (await q.deadLetters()).length === 1);
      broken = false;
      await q.enqueue({ kind: 'outbound', key: 'CHG0030009', payload: { name: 'C' } });
      await waitFor('C is running', () => ran.includes('C'));
      assert.equal(await q.replay(), 1);
      await sleep(200);
      assert.deepEqual(ran, ['A', 'C'], 'the replayed job must wait for C');
      release();
      await waitFor('A ran again', () => ran.length === 3);
      assert.deepEqual(ran, ['A', 'C', 'A']);
    });

    test('enqueueing the id of a completed job runs it again', async (t) => {
      const q = await open(t, adapter.backend(t));
      const runs: unknown[] = [];
      q.process('outbound', async (job) => {
        runs.push(job.payload);
      });
      await q.enqueue({ kind: 'outbound', id: 'effect-d', key: 'CHG0030008', payload: { n: 1 } });
      await waitFor('it ran', () => runs.length === 1);
      await waitFor('it finished', async () => (await q.depth()).outbound.running === 0);
      await q.enqueue({ kind: 'outbound', id: 'effect-d', key: 'CHG0030008', payload: { n: 2 } });
      await q.enqueue({ kind: 'outbound', id: 'effect-e', key: 'CHG0030008', payload: { n: 3 } });
      await waitFor('both later jobs ran', () => runs.length === 3);
      assert.deepEqual(runs, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    });

    test('enqueueing the id of a dead letter queues it afresh', async (t) => {
      const q = await open(t, adapter.backend(t));
      const runs: unknown[] = [];
      q.process<{ ok: boolean }>('outbound', async (job) => {
        runs.push(job.payload);
        if (!job.payload.ok) throw new PermanentError('bad payload');
      });
      await q.enqueue({ kind: 'outbound', id: 'effect-c', payload: { ok: false } });
      await waitFor('it is dead', async () => (await q.deadLetters()).length === 1);
      await q.enqueue({ kind: 'outbound', id: 'effect-c', payload: { ok: true } });
      await waitFor('it ran again', () => runs.length === 2);
      assert.deepEqual(runs, [{ ok: false }, { ok: true }]);
      await waitFor('the dead letter is gone', async () => (await q.deadLetters()).length === 0);
    });

    test('a job whose worker process died is run again by another process (at-least-once)', async (t) => {
      const b = adapter.backend(t);
      const first = await open(t, b);
      const id = await first.enqueue({ kind: 'outbound', key: 'CHG0030006', payload: { intent: 'answer-gate' } });
      // A separate process takes the job and is killed mid-handler: no graceful close, no lease release.
      const child = spawn(process.execPath, ['--input-type=module', '-e', `
        const { openQueue } = await import(${JSON.stringify(queueModule)});
        const q = await openQueue(${JSON.stringify(b.url)}, ${JSON.stringify(b.deps)});
        q.process('outbound', async (job) => { process.stdout.write('started ' + job.id + '\\n'); await new Promise(() => {}); });
        setInterval(() => {}, 1000);
      `], { stdio: ['ignore', 'pipe', 'inherit'] });
      t.after(() => child.kill('SIGKILL'));
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('the doomed worker started the job', () => out.includes(`started ${id}`));
      child.kill('SIGKILL');
      const runs: Job[] = [];
      first.process('outbound', async (job) => {
        runs.push(job);
      });
      await waitFor('the job ran again after the lease expired', () => runs.length === 1);
      assert.equal(runs[0]!.id, id);
      assert.equal(runs[0]!.attempt, 2);
      assert.deepEqual(runs[0]!.payload, { intent: 'answer-gate' });
    });

    test('close waits for running jobs to finish and they are not run again', async (t) => {
      const b = adapter.backend(t);
      const q = await openQueue(b.url, b.deps);
      let started = false;
      let finished = false;
      q.process('delivery', async () => {
        started = true;
        await sleep(300);
        finished = true;
      });
      await q.enqueue({ kind: 'delivery', payload: {} });
      await waitFor('the job started', () => started);
      await q.close();
      assert.equal(finished, true);
      await assert.rejects(q.enqueue({ kind: 'delivery', payload: {} }), /closed/);
      const again = await open(t, b);
      assert.deepEqual((await again.depth()).delivery, { waiting: 0, running: 0, dead: 0 });
    });

    test('two instances sharing the backend never run one job twice, and both do work', async (t) => {
      const b = adapter.backend(t);
      const one = await open(t, b);
      const two = await open(t, b);
      const running = new Set<string>();
      const runs = new Map<string, number>();
      const byInstance = [0, 0];
      let overlaps = 0;
      const handler = (instance: number) => async (job: Job) => {
        if (running.has(job.id)) overlaps++;
        running.add(job.id);
        byInstance[instance]!++;
        runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
        await sleep(5 + Math.floor(Math.random() * 15));
        running.delete(job.id);
      };
      one.process('delivery', handler(0), { concurrency: 3 });
      two.process('delivery', handler(1), { concurrency: 3 });
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) ids.push(await (i % 2 ? one : two).enqueue({ kind: 'delivery', payload: { i } }));
      await waitFor('every job ran', () => ids.every((id) => runs.has(id)));
      await waitFor('the queue is empty', async () => {
        const d = (await one.depth()).delivery;
        return d.waiting + d.running === 0;
      });
      assert.equal(overlaps, 0);
      assert.deepEqual([...runs.values()].filter((n) => n !== 1), []);
      assert.ok(byInstance[0]! > 0 && byInstance[1]! > 0, `work split ${byInstance.join('/')}`);
    });

    test('ordering per key holds across two instances with concurrency', async (t) => {
      const b = adapter.backend(t);
      const one = await open(t, b);
      const two = await open(t, b);
      const active = new Map<string, string>(); // key → job running for it
      const violations: string[] = [];
      const order = new Map<string, number[]>();
      const handler = async (job: Job<{ key: string; n: number }>) => {
        const { key, n } = job.payload;
        if (active.has(key)) violations.push(`${key}#${n} started while ${active.get(key)} ran`);
        active.set(key, `${key}#${n}`);
        order.set(key, [...(order.get(key) ?? []), n]);
        await sleep(10 + Math.floor(Math.random() * 20));
        active.delete(key);
      };
      one.process('outbound', handler, { concurrency: 4 });
      two.process('outbound', handler, { concurrency: 4 });
      const keys = ['CHG0030010', 'CHG0030011', 'CHG0030012'];
      for (let n = 0; n < 12; n++) {
        for (const key of keys) await (n % 2 ? one : two).enqueue({ kind: 'outbound', key, payload: { key, n } });
      }
      await waitFor('every job ran', () => keys.every((k) => (order.get(k) ?? []).length === 12), 30_000);
      assert.deepEqual(violations, []);
      for (const k of keys) assert.deepEqual(order.get(k), [...Array(12).keys()]);
    });

    test('bad input is refused with a message naming the field', async (t) => {
      const q = await open(t, adapter.backend(t));
      await assert.rejects(q.enqueue({ kind: 'deploy' as 'delivery', payload: {} }), /kind must be one of delivery, outbound, reconcile, timer/);
      await assert.rejects(q.enqueue({ kind: 'outbound', payload: {}, maxAttempts: 0 }), /maxAttempts/);
      await assert.rejects(q.enqueue({ kind: 'outbound', payload: {}, delayMs: -5 }), /delayMs/);
      await assert.rejects(q.enqueue({ kind: 'outbound', payload: {}, key: '' }), /key/);
      assert.throws(() => q.process('outbound', async () => {}, { concurrency: 0 }), /concurrency/);
      await q.ping();
    });
  });
}

test('embedded: a queue file made before the job counts is counted at open, and the counts follow every change', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hub-queue-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const deps = { sqlitePath: join(dir, 'queue.db'), tuning };
  const first = await openQueue('embedded', deps);
  for (let i = 0; i < 3; i++) await first.enqueue({ kind: 'delivery', key: 'change-1', payload: { i } }); // one waiting, two held
  await first.enqueue({ kind: 'outbound', payload: {}, delayMs: 60_000 });
  await first.close();
  const old = new DatabaseSync(deps.sqlitePath);
  old.exec('DROP TRIGGER jobs_counted_insert; DROP TRIGGER jobs_counted_delete; DROP TRIGGER jobs_counted_update; DROP TABLE job_counts');
  old.close();

  const q = await open(t, { url: 'embedded', deps });
  assert.deepEqual((await q.depth()).delivery, { waiting: 3, running: 0, dead: 0 });
  assert.deepEqual((await q.depth()).outbound, { waiting: 1, running: 0, dead: 0 });
  q.process('delivery', async (job) => {
    if ((job.payload as { i: number }).i === 1) throw new PermanentError('unparsable');
  });
  await waitFor('the key is worked off', async () => (await q.depth()).delivery.waiting === 0 && (await q.depth()).delivery.running === 0);
  assert.deepEqual((await q.depth()).delivery, { waiting: 0, running: 0, dead: 1 });
  assert.equal(await q.replay(), 1);
  await waitFor('the replayed job is dead again', async () => (await q.depth()).delivery.dead === 1 && (await q.depth()).delivery.waiting === 0);
  // What the counts say is what a count of the jobs says.
  const check = new DatabaseSync(deps.sqlitePath);
  t.after(() => check.close());
  const counted = check.prepare('SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state ORDER BY kind, state').all();
  const kept = check.prepare('SELECT kind, state, n FROM job_counts WHERE n > 0 ORDER BY kind, state').all();
  assert.deepEqual(kept, counted);
});

test('openQueue refuses a URL that is neither "embedded" nor redis://', async () => {
  await assert.rejects(openQueue('mongodb://127.0.0.1/hub', {}), /url must be "embedded" or a redis:\/\/ URL/);
});
