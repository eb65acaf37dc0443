// One circuit breaker per connection: after `failureThreshold` consecutive outage-like failures
// (network errors, 5xx) calls fail fast for `openMs`, then `halfOpenProbes` calls are let through;
// when they all succeed the circuit closes, and any failure opens it again. Rate limits and 4xx are
// answers from a healthy vendor and do not count.
import { HttpError } from '../sdk/index.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitSnapshot {
  state: CircuitState;
  consecutiveFailures: number;
  /** ISO time the circuit last opened, null if never. */
  openedAt: string | null;
  /** ms until an open circuit lets a probe through (0 unless open). */
  retryInMs: number;
  lastError: string | null;
}

/** Thrown instead of calling the vendor while the circuit is open. An HttpError (503) with
 * `retryAfterMs` = ms until half-open, so the queue reschedules it like a rate limit. */
export class CircuitOpenError extends HttpError {
  override name = 'CircuitOpenError';
  constructor(connectionId: string, retryInMs: number, lastError: string | null) {
    super(
      `connection "${connectionId}" is failing (circuit open${lastError ? `: ${lastError}` : ''}); next try in ${Math.ceil(retryInMs / 1000)} s`,
      503,
      null,
      retryInMs,
    );
  }
}

export interface CircuitBreaker {
  state(): CircuitState;
  snapshot(): CircuitSnapshot;
  /** Throws CircuitOpenError when no call may go out now; otherwise reserves a slot (a probe when half-open). */
  beforeCall(connectionId: string): void;
  onSuccess(): void;
  onFailure(reason: string): void;
  /** The call ended in a way that says nothing about health (4xx, rate limit): releases a probe slot. */
  onNeutral(): void;
}

export interface CircuitBreakerOptions {
  failureThreshold?: number;
  openMs?: number;
  halfOpenProbes?: number;
  now?: () => number;
}

export function createCircuitBreaker(opts: CircuitBreakerOptions = {}): CircuitBreaker {
  const failureThreshold = opts.failureThreshold ?? 5;
  const openMs = opts.openMs ?? 30_000;
  const halfOpenProbes = opts.halfOpenProbes ?? 1;
  const now = opts.now ?? Date.now;
  if (!(failureThreshold >= 1)) throw new Error('circuit breaker: failureThreshold must be at least 1');
  if (!(halfOpenProbes >= 1)) throw new Error('circuit breaker: halfOpenProbes must be at least 1');

  let current: CircuitState = 'closed';
  let failures = 0;
  let openedAt: number | null = null;
  let probesInFlight = 0;
  let probeSuccesses = 0;
  let lastError: string | null = null;

  // Open → half-open happens on the clock, so every read looks at the time first.
  function tick(): void {
    if (current === 'open' && openedAt !== null && now() >= openedAt + openMs) {
      current = 'half-open';
      probesInFlight = 0;
      probeSuccesses = 0;
    }
  }
  function open(): void {
    current = 'open';
    openedAt = now();
    probesInFlight = 0;
    probeSuccesses = 0;
  }
  const retryInMs = () => (current === 'open' && openedAt !== null ? Math.max(0, openedAt + openMs - now()) : 0);

  return {
    state() {
      tick();
      return current;
    },
    snapshot() {
      tick();
      return {
        state: current,
        consecutiveFailures: failures,
        openedAt: openedAt === null ? null : new Date(openedAt).toISOString(),
        retryInMs: retryInMs(),
        lastError,
      };
    },
    beforeCall(connectionId) {
      tick();
      if (current === 'open') throw new CircuitOpenError(connectionId, retryInMs(), lastError);
      if (current === 'half-open') {
        // Only as many calls as there are probes may test a vendor that was just down.
        if (probesInFlight + probeSuccesses >= halfOpenProbes) throw new CircuitOpenError(connectionId, 0, lastError);
        probesInFlight++;
      }
    },
    onSuccess() {
      tick();
      failures = 0;
      if (current === 'half-open') {
        probesInFlight = Math.max(0, probesInFlight - 1);
        probeSuccesses++;
        if (probeSuccesses >= halfOpenProbes) {
          current = 'closed';
          lastError = null;
        }
      }
    },
    onFailure(reason) {
      tick();
      lastError = reason;
      failures++;
      if (current === 'half-open' || (current === 'closed' && failures >= failureThreshold)) open();
    },
    onNeutral() {
      tick();
      if (current === 'half-open') probesInFlight = Math.max(0, probesInFlight - 1);
    },
  };
}
