// The scale-out queue on Redis through BullMQ: one BullMQ Queue (and, where this process consumes it, one
// Worker) per job kind, all under one key prefix. BullMQ provides leases (job locks), stalled-job
// recovery, delays and the failed set; this file adds what BullMQ OSS lacks: ordering per key.
//
// Ordering per key (within a kind), correct across any number of processes:
// - Each key has a Redis list of job ids in enqueue order ("the line"). enqueue() appends to the line
//   (a Lua script, so the check-and-append is atomic and an id is in a line at most once) BEFORE adding
//   the BullMQ job, so a job never exists without its place in line.
// - A worker that picks up a keyed job first asks Redis for its position (LPOS). Only the head of the
//   line (or a job no longer in any line) runs; any other is put back with moveToDelayed + DelayedError
//   (BullMQ's documented pattern: no attempt is used up) and looks again after pollMs.
// - The head leaves the line only when it is finished: completed (the worker's "completed" event) or
//   dead-lettered (just before it is failed for good). A retrying or RetryLater head stays at the head,
//   so the next job waits, as the port promises. Two workers can never run the head at once because
//   BullMQ's job lock admits one active copy.
// - A sweeper repairs lines after crashes: if the head's job is gone (completed, removed or failed)
//   and it has been in line longer than sweepMs (the grace covers the moment between the append and
//   the add), it is taken out of the line so the next job can run.
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

// KEYS: line, keys-with-a-line set, enqueue-time hash. ARGV: job id, key, now (ms).
const joinLineLua = `
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 1`;
const leaveLineLua = `
local n = redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
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
  redis.defineCommand('approvalHubJoinLine', { numberOfKeys: 3, lua: joinLineLua });
  redis.defineCommand('approvalHubLeaveLine', { numberOfKeys: 3, lua: leaveLineLua });
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

  #lineKeys(kind: JobKind, key: string): string[] {
    const p = this.#opts.prefix;
    return [`${p}:approval-hub-line:${kind}:${key}`, `${p}:approval-hub-lines:${kind}`, `${p}:approval-hub-line-since:${kind}`];
  }

  async #joinLine(kind: JobKind, key: string, jobId: string): Promise<void> {
    await this.#redis.runCommand('approvalHubJoinLine', [...this.#lineKeys(kind, key), jobId, key, String(Date.now())]);
  }

  async #leaveLine(kind: JobKind, key: string, jobId: string): Promise<void> {
    await this.#redis.runCommand('approvalHubLeaveLine', [...this.#lineKeys(kind, key), jobId, key]);
  }

  /** Takes a finished job out of its line and starts the next one now rather than at its next look
   * (pollMs), unless the next one is itself delayed (delayMs). */
  async #release(kind: JobKind, key: string, jobId: string): Promise<void> {
    await this.#leaveLine(kind, key, jobId);
    const [line] = this.#lineKeys(kind, key);
    const [next] = await this.#redis.lrange(line!, 0, 0);
    if (next === undefined) return;
    const nextJob = await this.#queue(kind).getJob(next);
    if (!nextJob || Date.now() < (nextJob.data as StoredJob).notBefore) return;
    // It may have been picked up meanwhile; promote() then refuses, which is fine.
    if ((await nextJob.getState()) === 'delayed') await nextJob.promote().catch(() => undefined);
  }

  #assertOpen(): void {
    if (this.#closing) throw new Error('queue: the BullMQ queue is closed');
  }

  async enqueue<P>(input: JobInput<P>): Promise<string> {
    this.#assertOpen();
    const job = checkJobInput(input);
    const id = job.id ?? randomUUID();
    const jobId = bullId(id);
    const q = this.#queue(job.kind);
    if (job.id) {
      const existing = await q.getJob(jobId);
      if (existing) {
        const state = await existing.getState();
        // Dedupe while unfinished. A dead letter is finished: enqueueing its id again replaces it.
        if (state !== 'failed' && state !== 'completed' && state !== 'unknown') return id;
        await existing.remove().catch(() => undefined);
      }
    }
    if (job.key) await this.#joinLine(job.kind, job.key, jobId);
    const now = Date.now();
    const data: StoredJob = { id, key: job.key, payload: JSON.parse(job.payloadJson) as unknown, maxAttempts: job.maxAttempts, enqueuedAt: new Date(now).toISOString(), notBefore: now + job.delayMs };
    await q.add(job.kind, data, {
      jobId,
      delay: job.delayMs,
      attempts: job.maxAttempts,
      backoff: { type: 'approval-hub' }, // the shared full-jitter policy, see backoffStrategy below
      removeOnComplete: true,
      removeOnFail: false, // the failed set is the dead-letter list
    });
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
      if (data.key) this.#release(kind, data.key, bj.id!).catch((err) => this.#opts.log.warn({ kind, id: data.id, err: errorText(err) }, 'queue: releasing the ordering key failed; the sweeper will'));
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
    const [, lines, since] = this.#lineKeys(kind, '');
    const keys = await this.#redis.smembers(lines!);
    const q = this.#queue(kind);
    for (const key of keys) {
      const [line] = this.#lineKeys(kind, key);
      const [head] = await this.#redis.lrange(line!, 0, 0);
      if (head === undefined) {
        await this.#redis.runCommand('approvalHubLeaveLine', [...this.#lineKeys(kind, key), '', key]);
        continue;
      }
      const state = await q.getJobState(head);
      if (state !== 'unknown' && state !== 'completed' && state !== 'failed') continue;
      const joined = Number(await this.#redis.hget(since!, head));
      if (Number.isFinite(joined) && Date.now() - joined < this.#opts.tuning.sweepMs) continue;
      this.#opts.log.warn({ kind, key, job: head }, 'queue: the first job for this key is gone (a crash?); letting the next one run');
      await this.#leaveLine(kind, key, head);
    }
  }

  async depth(): Promise<Record<JobKind, KindDepth>> {
    const out = emptyDepth();
    await Promise.all(
      jobKinds.map(async (kind) => {
        const c = await this.#queue(kind).getJobCounts('wait', 'delayed', 'prioritized', 'active', 'failed');
        out[kind] = { waiting: (c.wait ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), running: c.active ?? 0, dead: c.failed ?? 0 };
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
        // The replayed job joins the end of its key's line, behind jobs enqueued while it was dead.
        if (data.key) await this.#joinLine(kind, data.key, bj.id!);
        await bj.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
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
      await Promise.all([...this.#queues.values()].map((q) => q.close()));
    })();
    return this.#closed;
  }
}
