// One HTTP client, limiter and breaker per connection for the life of the process. Whoever wires the
// hub (actions, reconciliation, health) asks this registry instead of calling createHttpClient per
// job: the OAuth token cache, the Retry-After gate and the breaker only work if the client is kept.
// Its snapshots feed /api/v1/connections and /readyz ("degraded" while a circuit is open).
import type { ConnectionSettings, HttpClient, Logger, VendorFacts } from '../sdk/index.ts';
import { createCircuitBreaker, type CircuitBreaker, type CircuitBreakerOptions, type CircuitSnapshot } from './circuit-breaker.ts';
import { createHttpClient, type HttpClientOptions } from './index.ts';
import { createRateLimiter, type RateLimiter } from './rate-limiter.ts';

export interface OutboundOptions {
  log: Logger;
  /** Share rate-limit budgets between hub processes through Redis; omit for in-process budgets. */
  redisUrl?: string | null;
  breaker?: Omit<CircuitBreakerOptions, 'now'>;
  retry?: HttpClientOptions['retry'];
  maxWaitMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
}

export interface Outbound {
  /** The connection's client, created on first use and kept. `authHeaders` is read only then. */
  client(connection: ConnectionSettings, vendor: VendorFacts, authHeaders?: () => Promise<Record<string, string>>): HttpClient;
  /** Breaker state of every connection that has made a call, by connection id. */
  snapshots(): Record<string, CircuitSnapshot>;
  /** Drops a connection's client (its settings changed); the next call builds a new one. */
  forget(connectionId: string): Promise<void>;
  close(): Promise<void>;
}

interface Entry {
  client: HttpClient;
  breaker: CircuitBreaker;
  limiter: RateLimiter | null;
}

export function createOutbound(opts: OutboundOptions): Outbound {
  const entries = new Map<string, Entry>();
  const now = opts.now ?? Date.now;
  return {
    client(connection, vendor, authHeaders) {
      const known = entries.get(connection.id);
      if (known) return known.client;
      const breaker = createCircuitBreaker({ ...opts.breaker, now });
      const limiter = connection.rateLimit
        ? createRateLimiter({ id: connection.id, perSecond: connection.rateLimit.perSecond, ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}) })
        : null;
      const client = createHttpClient({
        connection,
        vendor,
        log: opts.log,
        breaker,
        ...(limiter ? { limiter } : {}),
        ...(authHeaders ? { authHeaders } : {}),
        ...(opts.retry ? { retry: opts.retry } : {}),
        ...(opts.maxWaitMs !== undefined ? { maxWaitMs: opts.maxWaitMs } : {}),
        ...(opts.sleep ? { sleep: opts.sleep } : {}),
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
        now,
      });
      entries.set(connection.id, { client, breaker, limiter });
      return client;
    },
    snapshots() {
      const out: Record<string, CircuitSnapshot> = {};
      for (const [id, e] of entries) out[id] = e.breaker.snapshot();
      return out;
    },
    async forget(connectionId) {
      const e = entries.get(connectionId);
      entries.delete(connectionId);
      await e?.limiter?.close();
    },
    async close() {
      const all = [...entries.values()];
      entries.clear();
      await Promise.all(all.map((e) => e.limiter?.close()));
    },
  };
}
