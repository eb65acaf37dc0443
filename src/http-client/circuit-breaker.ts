// One circuit breaker per connection: after `failureThreshold` consecutive outage-like failures
// (network errors, 5xx) calls fail fast for `openMs`, then `halfOpenProbes` calls are let through;
// when they all succeed the circuit closes, and any failure opens it again. Rate limits and 4xx are
// answers from a healthy vendor and do not count.
//
// The breaker's state lives in a small block of memory rather than in closure variables, so that the
// hub's threads can share one circuit: the processing thread (queue consumers, the outbound calls) is
// the one that mostly writes it, and the HTTP thread mostly reads it (/readyz, /api/v1/connections, the
// override check on decisions). Reads still write sometimes (open → half-open happens on the clock, at
// whichever read comes first), and a circuit is a handful of fields that must change together (opening
// sets the state, its time and resets the probes), so every access runs under a one-word lock taken with
// Atomics: a few loads and stores, never I/O, so the other thread waits for nanoseconds.
import { HttpError } from '../sdk/index.ts';
import { sharedLock } from '../shared-lock.ts';

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
  /** Memory to keep the circuit in (its first `circuitMemoryBytes` bytes), shared with another thread's
   * breaker for the same connection (see circuitMemory). Fresh (zeroed) memory is a closed circuit. The
   * options above are not in it: each thread passes the same ones. Default: private memory. */
  memory?: SharedArrayBuffer;
}

// The layout: Int32 words, then openedAt as a Float64, then the last error as UTF-8. Zero everywhere is a
// closed circuit that never opened, so memory needs no initialisation step that one thread could run
// after the other had already used it.
const LOCK = 0;
const STATE = 1;
const FAILURES = 2;
const PROBES_IN_FLIGHT = 3;
const PROBE_SUCCESSES = 4;
/** 1 once the circuit has opened (then openedAt holds the time). */
const HAS_OPENED = 5;
/** Byte length of the last error + 1; 0 for none. */
const LAST_ERROR_LENGTH = 6;
const WORDS = 8;
const OPENED_AT_OFFSET = WORDS * 4;
const LAST_ERROR_OFFSET = OPENED_AT_OFFSET + 8;
/** Enough for a vendor's status line and message; longer ones are cut and end with "…". */
const LAST_ERROR_MAX_BYTES = 512;

/** The bytes a circuit occupies at the start of the memory given to createCircuitBreaker (a multiple of 8,
 * so what a caller keeps after it stays aligned). */
export const circuitMemoryBytes = LAST_ERROR_OFFSET + LAST_ERROR_MAX_BYTES;

/** Memory for one circuit, to hand to createCircuitBreaker in each thread (through workerData). */
export function circuitMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer(circuitMemoryBytes);
}

const states: readonly CircuitState[] = ['closed', 'open', 'half-open'];
const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;

/** A lock holder that has not let go after this long was terminated mid-section (worker.terminate()
 * stops a thread anywhere); the sections are a few stores, so waiting longer would only hang the other thread. */
const ABANDONED_LOCK_MS = 100;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ellipsis = encoder.encode('…');

export function createCircuitBreaker(opts: CircuitBreakerOptions = {}): CircuitBreaker {
  const failureThreshold = opts.failureThreshold ?? 5;
  const openMs = opts.openMs ?? 30_000;
  const halfOpenProbes = opts.halfOpenProbes ?? 1;
  const now = opts.now ?? Date.now;
  if (!(failureThreshold >= 1)) throw new Error('circuit breaker: failureThreshold must be at least 1');
  if (!(halfOpenProbes >= 1)) throw new Error('circuit breaker: halfOpenProbes must be at least 1');
  if (opts.memory && opts.memory.byteLength < circuitMemoryBytes) {
    throw new Error(`circuit breaker: memory of ${opts.memory.byteLength} bytes is too small (a circuit needs ${circuitMemoryBytes}; use circuitMemory())`);
  }
  // Atomics work on unshared memory too, so a breaker of its own behaves exactly like a shared one.
  const memory: ArrayBufferLike = opts.memory ?? new ArrayBuffer(circuitMemoryBytes);
  const words = new Int32Array(memory, 0, WORDS);
  const openedAtCell = new Float64Array(memory, OPENED_AT_OFFSET, 1);
  const lastErrorCell = new Uint8Array(memory, LAST_ERROR_OFFSET, LAST_ERROR_MAX_BYTES);

  // Taking and releasing the lock with Atomics orders the plain reads and writes in between for the
  // other thread, so inside a section the fields are read and written like variables.
  const locked = sharedLock(words, LOCK, ABANDONED_LOCK_MS);

  const current = () => states[words[STATE]!] ?? 'closed';
  const openedAt = (): number | null => (words[HAS_OPENED] === 1 ? openedAtCell[0]! : null);
  function lastError(): string | null {
    const length = words[LAST_ERROR_LENGTH]! - 1;
    // slice copies out of the shared memory (TextDecoder does not read shared buffers).
    return length < 0 ? null : decoder.decode(lastErrorCell.slice(0, length));
  }
  function setLastError(reason: string | null): void {
    if (reason === null) {
      words[LAST_ERROR_LENGTH] = 0;
      return;
    }
    let bytes = encoder.encode(reason);
    if (bytes.length > LAST_ERROR_MAX_BYTES) {
      // encodeInto writes whole characters only, so the cut never splits one.
      const cut = new Uint8Array(LAST_ERROR_MAX_BYTES);
      const { written } = encoder.encodeInto(reason, cut.subarray(0, LAST_ERROR_MAX_BYTES - ellipsis.length));
      cut.set(ellipsis, written);
      bytes = cut.subarray(0, written + ellipsis.length);
    }
    lastErrorCell.set(bytes);
    words[LAST_ERROR_LENGTH] = bytes.length + 1;
  }

  // Open → half-open happens on the clock, so every read looks at the time first.
  function tick(): void {
    const at = openedAt();
    if (words[STATE] === OPEN && at !== null && now() >= at + openMs) {
      words[STATE] = HALF_OPEN;
      words[PROBES_IN_FLIGHT] = 0;
      words[PROBE_SUCCESSES] = 0;
    }
  }
  function open(): void {
    words[STATE] = OPEN;
    openedAtCell[0] = now();
    words[HAS_OPENED] = 1;
    words[PROBES_IN_FLIGHT] = 0;
    words[PROBE_SUCCESSES] = 0;
  }
  function retryInMs(): number {
    const at = openedAt();
    return words[STATE] === OPEN && at !== null ? Math.max(0, at + openMs - now()) : 0;
  }

  return {
    state() {
      return locked(() => {
        tick();
        return current();
      });
    },
    snapshot() {
      return locked(() => {
        tick();
        const at = openedAt();
        return {
          state: current(),
          consecutiveFailures: words[FAILURES]!,
          openedAt: at === null ? null : new Date(at).toISOString(),
          retryInMs: retryInMs(),
          lastError: lastError(),
        };
      });
    },
    beforeCall(connectionId) {
      // The error is built after the lock is let go; the section only decides.
      const refused = locked((): { retryInMs: number; lastError: string | null } | null => {
        tick();
        if (words[STATE] === OPEN) return { retryInMs: retryInMs(), lastError: lastError() };
        if (words[STATE] === HALF_OPEN) {
          // Only as many calls as there are probes may test a vendor that was just down.
          if (words[PROBES_IN_FLIGHT]! + words[PROBE_SUCCESSES]! >= halfOpenProbes) return { retryInMs: 0, lastError: lastError() };
          words[PROBES_IN_FLIGHT]!++;
        }
        return null;
      });
      if (refused) throw new CircuitOpenError(connectionId, refused.retryInMs, refused.lastError);
    },
    onSuccess() {
      locked(() => {
        tick();
        words[FAILURES] = 0;
        if (words[STATE] === HALF_OPEN) {
          words[PROBES_IN_FLIGHT] = Math.max(0, words[PROBES_IN_FLIGHT]! - 1);
          words[PROBE_SUCCESSES]!++;
          if (words[PROBE_SUCCESSES]! >= halfOpenProbes) {
            words[STATE] = CLOSED;
            setLastError(null);
          }
        }
      });
    },
    onFailure(reason) {
      locked(() => {
        tick();
        setLastError(reason);
        words[FAILURES]!++;
        if (words[STATE] === HALF_OPEN || (words[STATE] === CLOSED && words[FAILURES]! >= failureThreshold)) open();
      });
    },
    onNeutral() {
      locked(() => {
        tick();
        if (words[STATE] === HALF_OPEN) words[PROBES_IN_FLIGHT] = Math.max(0, words[PROBES_IN_FLIGHT]! - 1);
      });
    },
  };
}
