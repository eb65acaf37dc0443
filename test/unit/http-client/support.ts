// Shared arrangements for the HTTP client tests: a connection, vendor facts as the connectors declare
// them, a fake clock whose sleep advances time (so waits are asserted as clock values, never timed),
// and a logger that keeps what it was told.
import type { ConnectionSettings, Logger, Secret, VendorFacts } from '../../../src/sdk/index.ts';
import { createHttpClient, type HttpClientOptions } from '../../../src/http-client/index.ts';

export function secret(value: string): Secret {
  return { reveal: () => value, toString: () => '[redacted]', toJSON: () => '[redacted]' };
}

export const vendors = {
  servicenow: { pagination: 'link-header', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] },
  github: { pagination: 'link-header', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] },
  jira: { pagination: 'next-page-token', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] },
  jsm: { pagination: 'start-limit', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] },
  ado: { pagination: 'continuation-token', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] },
  offset: { pagination: 'offset', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] },
  none: { pagination: 'none', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: [] },
} satisfies Record<string, VendorFacts>;

export function connection(over: Partial<ConnectionSettings> = {}): ConnectionSettings {
  return {
    id: 'servicenow-prod',
    connector: 'servicenow',
    baseUrl: 'https://acme.service-now.example',
    auth: { type: 'basic', username: 'hub.integration', password: secret('s3cr3t-Pa55') },
    webhook: null,
    mappings: {},
    reconcile: null,
    rateLimit: null,
    options: {},
    ...over,
  };
}

export function fakeClock(start = Date.parse('2026-11-24T15:00:00Z')) {
  const clock = {
    t: start,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.t += ms;
    },
  };
  return clock;
}

export function memoryLog() {
  const lines: { level: string; obj: unknown; msg?: string }[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => {
    lines.push({ level, obj, ...(msg !== undefined ? { msg } : {}) });
  };
  const log: Logger = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
  return { log, lines };
}

/** A client on a fake clock with no backoff delay of its own, so only vendor-requested waits show. */
export function clientFor(over: Partial<HttpClientOptions> & { connection?: ConnectionSettings } = {}) {
  const clock = fakeClock();
  const { log, lines } = memoryLog();
  const client = createHttpClient({
    connection: connection(),
    vendor: vendors.servicenow,
    log,
    now: clock.now,
    sleep: clock.sleep,
    retry: { retries: 3, minMs: 0, maxMs: 0 },
    ...over,
  });
  return { client, clock, lines };
}

export async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
