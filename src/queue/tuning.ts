// Timing knobs shared by both queue adapters. Production uses the defaults; tests pass short values so
// a lease expiry or a backoff takes milliseconds instead of seconds.

export interface QueueTuning {
  /** How long a claimed job stays invisible to other workers without a heartbeat (visibility timeout). */
  leaseMs: number;
  /** Longest idle wait between polls of the embedded queue, and the re-check interval of a job held
   * back by an earlier job with the same key. */
  pollMs: number;
  /** First retry delay ceiling; doubles per attempt (full jitter picks uniformly below it). */
  backoffBaseMs: number;
  /** Upper bound of any retry delay. */
  backoffMaxMs: number;
  /** Redis adapter: how often an ordering key whose head job vanished (a crash) is repaired. */
  sweepMs: number;
}

export const defaultTuning: QueueTuning = {
  leaseMs: 30_000,
  pollMs: 1_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  sweepMs: 10_000,
};

export function resolveTuning(partial: Partial<QueueTuning> | undefined): QueueTuning {
  const t = { ...defaultTuning, ...partial };
  for (const [name, value] of Object.entries(t)) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`queue tuning: ${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return t;
}
