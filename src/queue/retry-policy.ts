// The one retry policy of the hub's queue, used by both adapters: how a handler's error decides what
// happens next, and how long a retry waits.
import { PermanentError, RetryLaterError } from './port.ts';
import type { QueueTuning } from './tuning.ts';

export type FailureOutcome =
  | { action: 'dead'; error: string }
  | { action: 'retry'; delayMs: number; error: string }
  /** A RetryLaterError: the attempt does not count. */
  | { action: 'later'; delayMs: number; error: string };

/** Exponential backoff with full jitter (uniform in [0, min(max, base·2^(attempt-1)))): spreads the
 * retries of many jobs that failed together, e.g. behind one vendor outage. */
export function backoffDelay(attempt: number, t: Pick<QueueTuning, 'backoffBaseMs' | 'backoffMaxMs'>): number {
  const ceiling = Math.min(t.backoffMaxMs, t.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(Math.random() * ceiling);
}

// Checked by name as well as class so an error built by another copy of the port module still counts.
export function isPermanent(err: unknown): boolean {
  return err instanceof PermanentError || (err instanceof Error && err.name === 'PermanentError');
}

export function retryLaterDelay(err: unknown): number | null {
  if (err instanceof RetryLaterError) return Math.max(0, err.delayMs);
  const delayMs = err instanceof Error && err.name === 'RetryLaterError' ? (err as Error & { delayMs?: unknown }).delayMs : undefined;
  if (typeof delayMs === 'number') return Math.max(0, delayMs);
  return null;
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

export function decideFailure(err: unknown, attempt: number, maxAttempts: number, t: QueueTuning): FailureOutcome {
  const error = errorText(err);
  if (isPermanent(err)) return { action: 'dead', error };
  const later = retryLaterDelay(err);
  if (later !== null) return { action: 'later', delayMs: later, error };
  if (attempt >= maxAttempts) return { action: 'dead', error };
  return { action: 'retry', delayMs: backoffDelay(attempt, t), error };
}
