// One runtime per configured connection, built once at start: the connector from the registry, its
// mappings, and the one HTTP client with its rate limiter and circuit breaker (the limiter lives in
// Redis when the queue does, so every hub process draws from one budget per vendor account).
import { connectorById } from '../../connectors/index.ts';
import type { HubConfig } from '../config/types.ts';
import { createCircuitBreaker, createHttpClient, createRateLimiter, type RateLimiter } from '../http-client/index.ts';
import { loadConnectionMappings } from '../mapping/index.ts';
import type { ActionDefinition, Logger } from '../sdk/index.ts';
import type { ConnectionRuntime } from './context.ts';

export interface ConnectionOptions {
  /** Overrides for tests: a faster breaker, a shorter wait before handing a retry to the queue. */
  breaker?: { failureThreshold?: number; openMs?: number };
  maxWaitMs?: number;
  retry?: { retries: number; minMs: number; maxMs: number };
}

export async function buildConnections(config: HubConfig, log: Logger, opts: ConnectionOptions = {}): Promise<Map<string, ConnectionRuntime>> {
  const out = new Map<string, ConnectionRuntime>();
  const redisUrl = /^rediss?:\/\//.test(config.queue) ? config.queue : null;
  for (const settings of config.connections) {
    const where = `${config.file}: connections[id=${settings.id}]`;
    const connector = connectorById(settings.connector);
    if (!connector) throw new Error(`${where}.connector: "${settings.connector}" is not a registered connector`);
    const loaded = await loadConnectionMappings(config.mappingsDir, settings, connector.mappingKinds ?? []);
    if (!loaded.ok) throw new Error(`${where}.mappings: ${loaded.errors.map((e) => `${e.file}:${e.line} ${e.reason}`).join('; ')}`);
    const breaker = createCircuitBreaker(opts.breaker ?? {});
    const limiter: RateLimiter | undefined = settings.rateLimit ? createRateLimiter({ id: settings.id, perSecond: settings.rateLimit.perSecond, redisUrl }) : undefined;
    // Schemes the client cannot do from connection.auth alone (GitHub App installation tokens) come
    // from the connector; one instance per connection so it can cache its token.
    const connectionAuth = connector.auth && settings.auth ? connector.auth(settings, globalThis.fetch) : null;
    const http = createHttpClient({
      connection: settings,
      vendor: connector.vendor,
      log,
      ...(connectionAuth ? { authHeaders: () => connectionAuth.headers() } : {}),
      breaker,
      ...(limiter ? { limiter } : {}),
      ...(opts.maxWaitMs !== undefined ? { maxWaitMs: opts.maxWaitMs } : {}),
      ...(opts.retry ? { retry: opts.retry } : {}),
    });
    out.set(settings.id, {
      settings,
      connector,
      actions: new Map((connector.actions ?? []).map((a): [string, ActionDefinition] => [a.intent, a])),
      http,
      breaker,
      normalize: loaded.mappings.normalize,
      render: loaded.mappings.render,
      systemOfRecord: settings.options.systemOfRecord === true,
      lastSync: null,
      close: async () => {
        await limiter?.close();
      },
    });
  }
  return out;
}
