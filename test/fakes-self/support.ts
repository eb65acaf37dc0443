// The hub's own HTTP client pointed at a fake, on a clock shared with the fake: the client's sleep
// advances the time the fake sees, so rate-limit waits are checked without waiting.
import { createHttpClient } from '../../src/http-client/index.ts';
import type { ConnectionSettings, Logger, Secret, VendorFacts } from '../../src/sdk/index.ts';

export const quietLog: Logger = { info() {}, warn() {}, error() {}, debug() {} };

export function secret(value: string): Secret {
  return { reveal: () => value, toString: () => '[redacted]', toJSON: () => '[redacted]' };
}

export function sharedClock(start = Date.parse('2026-11-24T15:00:00Z')) {
  const clock = {
    t: start,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.t += ms;
    },
  };
  return clock;
}

export function clientOn(
  baseUrl: string,
  auth: ConnectionSettings['auth'],
  vendor: VendorFacts,
  clock: { now: () => number; sleep: (ms: number) => Promise<void> },
  extra: { authHeaders?: () => Promise<Record<string, string>> } = {},
) {
  return createHttpClient({
    connection: { id: 'fake', connector: 'fake', baseUrl, auth, webhook: null, mappings: {}, reconcile: null, rateLimit: null, options: {} },
    vendor,
    log: quietLog,
    now: clock.now,
    sleep: clock.sleep,
    retry: { retries: 3, minMs: 0, maxMs: 0 },
    ...extra,
  });
}

export async function all<T>(it: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const page of it) out.push(...page);
  return out;
}
