// The scale-out queue on Redis through BullMQ: one BullMQ Queue (and, where this process consumes it, one
// Worker) per job kind, all under one key prefix. BullMQ provides leases (job locks), stalled-job
// recovery, delays and the failed set; this file adds what BullMQ OSS lacks: ordering per key.
//
// Ordering per key (within a kind), correct across any number of processes — only the head of a key's
// line is a BullMQ job at all:
// - Each key has a Redis list of job ids in enqueue order ("the line") and a hash holding each queued
//   job's data. enqueue() appends atomically (Lua: an id is in a line at most once); if the job is
//   first in line it is added to BullMQ at once, otherwise it just waits in the line.
// - When the head finishes — completed (the worker's "completed" event, i.e. after BullMQ recorded it)
//   or dead-lettered (just before it is failed for good) — a Lua script pops it and returns the next
//   job, which is then added to BullMQ (honouring what is left of its own delayMs). A retrying or
//   RetryLater head stays at the head, so the next job waits, as the port promises. Two workers never
//   run the head at once because BullMQ's job lock admits one active copy.
// - BullMQ job ids are deterministic (from the hub's id), so adding a head twice is harmless. That makes
//   crash repair simple: a sweeper looks at every line whose head has been head for longer than sweepMs;
//   if BullMQ has no such job (a crash between pop and add), it adds it; if the job already completed
//   or failed (a crash before the pop), it pops it. Completed keyed jobs are kept an hour so the sweeper
//   can tell "finished" from "never added".
// - Defensive: a keyed job that is somehow in BullMQ while not first in line (LPOS > 0) is put back
//   with moveToDelayed + DelayedError (no attempt used) and looks again after pollMs.
import { randomUUID } from 'node:crypto';
import { DelayedError, Queue as BullQueue, UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import type { Logger } from '../../sdk/index.ts';
import type { DeadLetter, Handler, Job, JobInput, JobKind, KindDepth, Queue } from '../port.ts';
import { checkJobInput, checkKind, emptyDepth, jobKinds } from '../job-input.ts';
import { backoffDelay, decideFailure, errorText } from '../retry-policy.ts';
import type { QueueTuning } from '../tuning.ts';

interface StoredJob {
  id: string;
  key: string | null;
  payload: unknown;
  maxAttempts: number;
  enqueuedAt: string;
  /** Epoch ms before which the job must not run (its delayMs). */
  notBefore: number;
}

type RedisClient = Awaited<ReturnType<BullQueue['getBackend']>['client']>;

export interface BullmqQueueOptions {
  url: string;
  prefix: string;
  log: Logger;
  tuning: QueueTuning;
}

// KEYS: line, set of keys with a line, head-since hash, job-data hash. ARGV: job id, key, now, data.
// Returns the line's length after the append, or -1 when the id is already in line.
const joinLineLua = `
if redis.call('LPOS', KEYS[1], ARGV[1]) then return -1 end
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[4])
if n == 1 then redis.call('HSET', KEYS[3], ARGV[1], ARGV[3]) end
return n`;
// Same KEYS. ARGV: finished job id, key, now. Pops the job if it is the head; returns the next head's id
// and data, or nil.
const advanceLineLua = `
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return nil end
redis.call('LPOP', KEYS[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
local nxt = redis.call('LINDEX', KEYS[1], 0)
if not nxt then
  redis.call('SREM', KEYS[2], ARGV[2])
  return nil
end
redis.call('HSET', KEYS[3], nxt, ARGV[3])
return {nxt, redis.call('HGET', KEYS[4], nxt)}`;
// KEYS: set of keys with a line. ARGV: line key prefix. Jobs waiting behind a head, for depth().
const backlogLua = `
local n = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local len = redis.call('LLEN', ARGV[1] .. key)
  if len > 1 then n = n + len - 1 end
end
return n`;

// BullMQ refuses custom job ids that are integers or contain ":"; the hub's ids (delivery ids, change
// ids) may be either, so they are encoded. The original id travels in the job data.
const bullId = (id: string) => `j.${encodeURIComponent(id)}`;

const timeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(what)), ms).unref())]);

export async function openBullmqQueue(opts: BullmqQueueOptions): Promise<Queue> {
  if (opts.prefix.includes(':') || opts.prefix.length === 0) throw new Error(`queue: redisPrefix must be non-empty and contain no ":", got ${JSON.stringify(opts.prefix)}`);
  const queues = new Map<JobKind, BullQueue>();
  for (const kind of jobKinds) {
    const q = new BullQueue(kind, { connection: { url: opts.url }, prefix: opts.prefix });
    q.on('error', (err) => opts.log.error({ kind, err: errorText(err) }, 'queue: Redis error'));
    queues.set(kind, q);
  }
  const all = [...queues.values()];
  try {
    await timeout(Promise.all(all.map((q) => q.waitUntilReady())), 10_000, `Redis at ${redactUrl(opts.url)} did not answer within 10 s`);
  } catch (err) {
    await Promise.allSettled(all.map((q) => q.close()));
    throw new Error(`queue: cannot open the BullMQ queue: ${errorText(err)}`);
  }
  const redis = await all[0]!.getBackend().client;
  redis.defineCommand('approvalHubJoinLine', { numberOfKeys: 4, lua: joinLineLua });
  redis.defineCommand('approvalHubAdvanceLine', { numberOfKeys: 4, lua: advanceLineLua });
  redis.defineCommand('approvalHubLineBacklog', { numberOfKeys: 1, lua: backlogLua });
  return new BullmqQueue(queues, redis, opts);
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured URL';
  }
}

class BullmqQueue implements Queue {
  readonly kind = 'bullmq' as const;
  readonly #queues: Map<JobKind, BullQueue>;
  readonly #workers = new Map<JobKind, Worker>();
  readonly #sweepers: NodeJS.Timeout[] = [];
  readonly #releasing = new Set<Promise<void>>();
  readonly #redis: RedisClient;
  readonly #opts: BullmqQueueOptions;
  #closing = false;
  #closed: Promise<void> | null = null;

  constructor(queues: Map<JobKind, BullQueue>, redis: RedisClient, opts: BullmqQueueOptions) {
    this.#queues = queues;
    this.#redis = redis;
    this.#opts = opts;
  }

  #queue(kind: JobKind): BullQueue {
    return this.#queues.get(checkKind(kind))!;
  }

  #linePrefix(kind: JobKind): string {
    return `${this.#opts.prefix}:approval-hub-line:${kind}:`;
  }

  #lineKeys(kind: JobKind, key: string): string[] {
    const p = this.#opts.prefix;
    return [`${this.#linePrefix(kind)}${key}`, `${p}:approval-hub-lines:${kind}`, `${p}:approval-hub-head-since:${kind}`, `${p}:approval-hub-line-jobs:${kind}`];
  }

  async #add(kind: JobKind, jobId: string, data: StoredJob): Promise<void> {
    await this.#queue(kind).add(kind, data, {
      jobId,
      delay: Math.max(0, data.notBefore - Date.now()),
      attempts: data.maxAttempts,
      backoff: { type: 'approval-hub' }, // the shared full-jitter policy, see backoffStrategy below
      // Keyed jobs stay an hour once completed so the sweeper can tell a finished head from a lost one.
      removeOnComplete: data.key ? { age: 3600 } : true,
      removeOnFail: false, // the failed set is the dead-letter list
    });
  }

  /** Appends a keyed job to its line; returns the line's length (1: it is the head) or -1 if already in it. */
  async #joinLine(kind: JobKind, key: string, jobId: string, data: StoredJob): Promise<number> {
    return (await this.#redis.runCommand('approvalHubJoinLine', [...this.#lineKeys(kind, key), jobId, key, String(Date.now()), JSON.stringify(data)])) as number;
  }

  /** Queues a job: straight into BullMQ, or into its key's line (and into BullMQ if first in line). */
  async #submit(kind: JobKind, jobId: string, data: StoredJob): Promise<void> {
    if (data.key === null) return this.#add(kind, jobId, data);
    if ((await this.#joinLine(kind, data.key, jobId, data)) === 1) await this.#add(kind, jobId, data);
  }

  /** The head of a line finished: pop it and hand the next job in line to BullMQ. */
  async #release(kind: JobKind, key: string, jobId: string): Promise<void> {
    const next = (await this.#redis.runCommand('approvalHubAdvanceLine', [...this.#lineKeys(kind, key), jobId, key, String(Date.now())])) as [string, string | null] | null;
    if (next && next[1]) await this.#add(kind, next[0], JSON.parse(next[1]) as StoredJob);
  }

  #assertOpen(): void {
    if (this.#closing) throw new Error('queue: the BullMQ queue is closed');
  }

  async enqueue<P>(input: JobInput<P>): Promise<string> {
    this.#assertOpen();
    const job = checkJobInput(input);
    const id = job.id ?? randomUUID();
    const jobId = bullId(id);
    if (job.id) {
      const existing = await this.#queue(job.kind).getJob(jobId);
      if (existing) {
        const state = await existing.getState();
        // Dedupe while unfinished. Finished is finished: a dead letter (or a completed job kept for the
        // sweeper) with this id is replaced. A keyed job still waiting in its line is deduped by the line.
        if (state !== 'failed' && state !== 'completed' && state !== 'unknown') return id;
        // A finished head may still be first in its line (its completion step is in flight): take it out
        // first, so the new job queues behind, not into, the old one's place.
        const old = existing.data as StoredJob;
        if (old.key) await this.#release(job.kind, old.key, jobId);
        await existing.remove().catch(() => undefined);
      }
    }
    const now = Date.now();
    const data: StoredJob = { id, key: job.key, payload: JSON.parse(job.payloadJson) as unknown, maxAttempts: job.maxAttempts, enqueuedAt: new Date(now).toISOString(), notBefore: now + job.delayMs };
    await this.#submit(job.kind, jobId, data);
    return id;
  }

  process<P>(kind: JobKind, handler: Handler<P>, opts?: { concurrency?: number }): void {
    this.#assertOpen();
    checkKind(kind);
    if (this.#workers.has(kind)) throw new Error(`queue: ${kind} jobs already have a handler in this process`);
    const concurrency = opts?.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`queue: concurrency for ${kind} must be an integer ≥ 1, got ${String(opts?.concurrency)}`);
    const t = this.#opts.tuning;
    const worker = new Worker(kind, (bj: BullJob, token?: string) => this.#runJob(kind, handler as Handler<unknown>, bj, token), {
      connection: { url: this.#opts.url, maxRetriesPerRequest: null }, // required by BullMQ's blocking worker connection
      prefix: this.#opts.prefix,
      concurrency,
      lockDuration: t.leaseMs,
      stalledInterval: t.leaseMs,
      // A job whose worker died goes back to waiting; after this many deaths it is dead-lettered.
      maxStalledCount: 8,
      drainDelay: Math.max(1, Math.ceil(t.pollMs / 1000)),
      settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(attemptsMade, t) },
    });
    worker.on('error', (err) => this.#opts.log.error({ kind, err: errorText(err) }, 'queue: worker error'));
    // The head of a line leaves it only once BullMQ has recorded the completion (a crash before that
    // re-runs the job, still at the head).
    worker.on('completed', (bj: BullJob) => {
      const data = bj.data as StoredJob;
      if (!data.key) return;
      const releasing = this.#release(kind, data.key, bj.id!)
        .catch((err) => this.#opts.log.warn({ kind, id: data.id, err: errorText(err) }, 'queue: starting the next job for this key failed; the sweeper will'))
        .finally(() => this.#releasing.delete(releasing));
      this.#releasing.add(releasing);
    });
    this.#workers.set(kind, worker);
    const sweeper = setInterval(() => {
      this.#sweep(kind).catch((err) => this.#opts.log.warn({ kind, err: errorText(err) }, 'queue: ordering sweep failed'));
    }, t.sweepMs);
    this.#sweepers.push(sweeper);
  }

  async #runJob(kind: JobKind, handler: Handler<unknown>, bj: BullJob, token: string | undefined): Promise<void> {
    const data = bj.data as StoredJob;
    const t = this.#opts.tuning;
    if (data.key) {
      const [line] = this.#lineKeys(kind, data.key);
      const pos = await this.#redis.lpos(line!, bj.id!);
      if (pos !== null && pos > 0) {
        await bj.moveToDelayed(Date.now() + t.pollMs, token);
        throw new DelayedError(); // not the head: an earlier job with this key is unfinished
      }
    }
    // Attempts: BullMQ counts failures; a worker death (stall) is a run too, as in the embedded queue.
    const job: Job<unknown> = {
      id: data.id,
      kind,
      key: data.key,
      payload: data.payload,
      attempt: bj.attemptsMade + bj.stalledCounter + 1,
      maxAttempts: data.maxAttempts,
      enqueuedAt: data.enqueuedAt,
    };
    try {
      await handler(job);
    } catch (err) {
      const outcome = decideFailure(err, job.attempt, job.maxAttempts, t);
      if (outcome.action === 'later') {
        await bj.moveToDelayed(Date.now() + outcome.delayMs, token);
        throw new DelayedError(outcome.error);
      }
      if (outcome.action === 'dead') {
        this.#opts.log.warn({ kind, id: job.id, attempt: job.attempt, error: outcome.error }, 'queue: job dead-lettered');
        if (data.key) await this.#release(kind, data.key, bj.id!);
        throw new UnrecoverableError(outcome.error);
      }
      throw err instanceof Error ? err : new Error(outcome.error); // BullMQ retries with backoffStrategy
    }
  }

  async #sweep(kind: JobKind): Promise<void> {
    const [, lines, headSince, lineJobs] = this.#lineKeys(kind, '');
    const q = this.#queue(kind);
    for (const key of await this.#redis.smembers(lines!)) {
      const [line] = this.#lineKeys(kind, key);
      const [head] = await this.#redis.lrange(line!, 0, 0);
      if (head === undefined) continue;
      const since = Number(await this.#redis.hget(headSince!, head));
      if (Number.isFinite(since) && Date.now() - since < this.#opts.tuning.sweepMs) continue; // the normal path is still at work
      const state = await q.getJobState(head);
      if (state === 'unknown') {
        const data = await this.#redis.hget(lineJobs!, head);
        this.#opts.log.warn({ kind, key, job: head }, 'queue: the first job for this key was never handed to BullMQ (a crash?); adding it');
        if (data) await this.#add(kind, head, JSON.parse(data) as StoredJob);
      } else if (state === 'completed' || state === 'failed') {
        this.#opts.log.warn({ kind, key, job: head }, 'queue: the first job for this key finished but the next was not started (a crash?); starting it');
        await this.#release(kind, key, head);
      }
    }
  }

  async depth(): Promise<Record<JobKind, KindDepth>> {
    const out = emptyDepth();
    await Promise.all(
      jobKinds.map(async (kind) => {
        const c = await this.#queue(kind).getJobCounts('wait', 'delayed', 'prioritized', 'active', 'failed');
        const [, lines] = this.#lineKeys(kind, '');
        const inLine = Number(await this.#redis.runCommand('approvalHubLineBacklog', [lines!, this.#linePrefix(kind)]));
        out[kind] = { waiting: (c.wait ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) + inLine, running: c.active ?? 0, dead: c.failed ?? 0 };
      }),
    );
    return out;
  }

  async #failed(kind: JobKind): Promise<BullJob[]> {
    const jobs = (await this.#queue(kind).getFailed(0, -1)) as BullJob[];
    return jobs.filter((j) => j !== undefined && j !== null).sort((a, b) => (a.finishedOn ?? 0) - (b.finishedOn ?? 0));
  }

  async deadLetters(kind?: JobKind): Promise<DeadLetter[]> {
    const kinds = kind === undefined ? jobKinds : [checkKind(kind)];
    const lists = await Promise.all(
      kinds.map(async (k) =>
        (await this.#failed(k)).map((bj): DeadLetter => {
          const data = bj.data as StoredJob;
          return {
            id: data.id,
            kind: k,
            key: data.key,
            payload: data.payload,
            attempts: bj.attemptsMade + bj.stalledCounter,
            error: bj.failedReason ?? '',
            failedAt: new Date(bj.finishedOn ?? Date.now()).toISOString(),
          };
        }),
      ),
    );
    return lists.flat();
  }

  async replay(ids?: string[]): Promise<number> {
    this.#assertOpen();
    const wanted = ids ? new Set(ids) : null;
    let n = 0;
    for (const kind of jobKinds) {
      for (const bj of await this.#failed(kind)) {
        const data = bj.data as StoredJob;
        if (wanted && !wanted.has(data.id)) continue;
        if (data.key) {
          // The replayed job joins the end of its key's line, behind jobs enqueued while it was dead;
          // then the failed copy goes, so that the job can be added again when its turn comes. In that
          // order a crash in between leaves the dead letter in place (and the sweeper clears the line).
          const fresh = { ...data, notBefore: Date.now() };
          const n = await this.#joinLine(kind, data.key, bj.id!, fresh);
          await bj.remove();
          if (n === 1) await this.#add(kind, bj.id!, fresh);
        } else {
          await bj.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        }
        n++;
      }
    }
    return n;
  }

  async ping(): Promise<void> {
    this.#assertOpen();
    await this.#queue('delivery').getJobCounts('wait');
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      for (const s of this.#sweepers) clearInterval(s);
      // Worker.close() stops fetching and waits for the active jobs to finish.
      await Promise.all([...this.#workers.values()].map((w) => w.close()));
      await Promise.all(this.#releasing); // hand the next job of each key to BullMQ before disconnecting
      await Promise.all([...this.#queues.values()].map((q) => q.close()));
    })();
    return this.#closed;
  }
}
