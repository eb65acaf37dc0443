// Redis for tests: the server scripts/test.ts ensures (REDIS_URL or 127.0.0.1:6379), a unique key prefix
// per test so suites running in parallel never see each other's keys, and removal of those keys.
// BullMQ's bundled client does the cleanup, so the tests use one Redis client library, like the hub.
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';

export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh key prefix, e.g. "hubtest-lq2x9c-1a2b3c4d" (BullMQ prefixes may not contain ":"). */
export function uniqueRedisPrefix(): string {
  return `hubtest-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under `${prefix}:`. */
export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const q = new Queue('cleanup', { connection: { url: redisUrl }, prefix });
  try {
    const client = await q.getBackend().client;
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, { MATCH: `${prefix}:*`, COUNT: 500 });
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    await q.close();
  }
}
