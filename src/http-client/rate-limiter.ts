// Per-connection request budget with Bottleneck: requests to one connection start at least
// 1000/perSecond ms apart. With a Redis URL the limiter uses Bottleneck's Redis clustering under a
// shared id, so every hub process calling the same vendor account draws from one budget.
//
// Bottleneck 2.19 drives ioredis through `new Redis(options)`, `Redis.Cluster`, `duplicate()`,
// `defineCommand` and callback-style `subscribe`; ioredis 6 still has all of these (checked by
// test/unit/http-client/rate-limiter.test.ts against a real Redis), and we pass the module in so
// Bottleneck does not `require` an arbitrary copy.
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';

export interface RateLimiter {
  /** Runs `fn` when the budget allows it. */
  schedule<T>(fn: () => Promise<T>): Promise<T>;
  /** Resolves when the limiter can schedule (the Redis connection is up). */
  ready(): Promise<void>;
  /** Disconnects from Redis (if any) and stops timers. */
  close(): Promise<void>;
}

export interface RateLimiterOptions {
  /** Shared name of the budget, normally the connection id. */
  id: string;
  perSecond: number;
  /** redis://[user:pass@]host:port[/db]; omit for an in-process limiter. */
  redisUrl?: string | null;
}

function redisClientOptions(redisUrl: string): Record<string, unknown> {
  let u: URL;
  try {
    u = new URL(redisUrl);
  } catch {
    throw new Error(`rate limiter: redisUrl "${redisUrl}" is not a valid URL`);
  }
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

export function createRateLimiter(opts: RateLimiterOptions): RateLimiter {
  if (!(opts.perSecond > 0)) throw new Error(`rate limiter "${opts.id}": perSecond must be a positive number, got ${opts.perSecond}`);
  const minTime = Math.ceil(1000 / opts.perSecond);
  const limiter = opts.redisUrl
    ? new Bottleneck({
        id: `approval-hub:ratelimit:${opts.id}`,
        minTime,
        maxConcurrent: null,
        datastore: 'ioredis',
        Redis,
        clientOptions: redisClientOptions(opts.redisUrl),
        // Keep the shared state when one process starts: the others are still using it.
        clearDatastore: false,
        // Redis keys expire when no process has used the budget for a while.
        timeout: 10 * 60_000,
      })
    : new Bottleneck({ minTime, maxConcurrent: null });
  let closed = false;
  return {
    schedule(fn) {
      return limiter.schedule(fn);
    },
    async ready() {
      await limiter.ready();
    },
    async close() {
      if (closed) return;
      closed = true;
      await limiter.disconnect(true);
    },
  };
}
