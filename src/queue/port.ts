// The queue port: durable work between ingest, the engine and the connectors. Two adapters implement
// it (src/queue/embedded/ on SQLite, src/queue/bullmq/ on Redis) and both pass
// test/contract/queue.test.ts.
//
// Delivery is at-least-once: a job whose worker dies is run again after its lease expires, so every
// handler must be idempotent (outbound actions go through the job ledger in the store for that).

export type JobKind = 'delivery' | 'outbound' | 'reconcile' | 'timer';

export interface JobInput<P = unknown> {
  kind: JobKind;
  payload: P; // JSON-serialisable
  /** Enqueueing the same id twice while the first is not finished adds it once. Once it is finished
   * (completed or dead-lettered) the id may be enqueued again; that replaces its dead letter. */
  id?: string;
  /** Ordering key (e.g. a change id): a job is not started while an earlier-enqueued job of the same
   * kind with the same key is unfinished (waiting, delayed, running or waiting to retry). Keys are
   * scoped per kind, so a delayed timer never holds up outbound work for the same change.
   * Dead-lettered jobs release the key; a replayed job queues behind the key's current jobs. */
  key?: string;
  /** Earliest start, ms from now (timers). */
  delayMs?: number;
  /** Attempts before the job is dead-lettered; default 8. */
  maxAttempts?: number;
}

export interface Job<P = unknown> {
  id: string;
  kind: JobKind;
  key: string | null;
  payload: P;
  attempt: number; // 1 on the first run
  maxAttempts: number;
  enqueuedAt: string;
}

export type Handler<P = unknown> = (job: Job<P>) => Promise<void>;

export interface KindDepth {
  waiting: number; // ready or delayed, not yet running
  running: number;
  dead: number;
}

export interface DeadLetter {
  id: string;
  kind: JobKind;
  key: string | null;
  payload: unknown;
  attempts: number;
  error: string;
  failedAt: string;
}

export interface Queue {
  readonly kind: 'embedded' | 'bullmq';
  enqueue<P>(job: JobInput<P>): Promise<string>;
  /** Starts consuming one kind with at most `concurrency` jobs running in this process. Failure handling:
   * a thrown PermanentError dead-letters at once; RetryLaterError retries after its delay without
   * counting as a failure beyond `attempt`; any other error retries with exponential backoff and
   * jitter until maxAttempts, then dead-letters. */
  process<P>(kind: JobKind, handler: Handler<P>, opts?: { concurrency?: number }): void;
  depth(): Promise<Record<JobKind, KindDepth>>;
  deadLetters(kind?: JobKind): Promise<DeadLetter[]>;
  /** Re-queues dead letters (all, or the given ids) with a fresh attempt count; returns how many. */
  replay(ids?: string[]): Promise<number>;
  ping(): Promise<void>;
  /** Stops taking new jobs, waits for running ones to finish (graceful shutdown), then closes. */
  close(): Promise<void>;
}

/** Never retry: the job cannot succeed (bad payload, a 4xx that is not a rate limit). */
export class PermanentError extends Error {
  override name = 'PermanentError';
}
/** Retry after a known delay (Retry-After, an open circuit, an earlier job for the same change). */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
  readonly delayMs: number;
  constructor(message: string, delayMs: number) {
    super(message);
    this.delayMs = delayMs;
  }
}
