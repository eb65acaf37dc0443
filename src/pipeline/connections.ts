// One runtime per configured connection, built once at start: the connector from the registry, its
// mappings, and the one HTTP client with its rate limiter and circuit breaker (the limiter lives in
// Redis when the queue does, so every hub process draws from one budget per vendor account).
//
// Each thread of a hub builds its own runtimes, but a connection's circuit and its last sync time are
// one state: they live in memory the main thread creates (connectionSharedMemory) and hands to the
// processing worker, so the worker's outbound calls open the circuit that /readyz reports and that the
// decisions API checks before allowing an override.
import { connectorById } from '../../connectors/index.ts';
import type { HubConfig } from '../config/types.ts';
import { circuitMemoryBytes, createCircuitBreaker, createHttpClient, createRateLimiter, type RateLimiter } from '../http-client/index.ts';
import { loadConnectionMappings } from '../mapping/index.ts';
import type { ActionDefinition, Logger } from '../sdk/index.ts';
import type { ConnectionRuntime } from './context.ts';

export interface ConnectionOptions {
  /** Overrides for tests: a faster breaker, a shorter wait before handing a retry to the queue. */
  breaker?: { failureThreshold?: number; openMs?: number };
  maxWaitMs?: number;
  retry?: { retries: number; minMs: number; maxMs: number };
  /** Per connection id, the memory its circuit and last sync time live in (connectionSharedMemory), when
   * another thread builds the same connections. Default: memory of this build's own. */
  shared?: Readonly<Record<string, SharedArrayBuffer>>;
}

// A connection's memory: the circuit first, then the last sync time as a BigInt64 (a 64-bit value that
// Atomics reads and writes whole; a Float64 read may tear while the other thread writes it).
const LAST_SYNC_OFFSET = circuitMemoryBytes;
const connectionMemoryBytes = LAST_SYNC_OFFSET + 8;

/** One block of shared memory per configured connection, created once by the main thread and passed to
 * each thread's buildConnections (through workerData for a worker). */
export function connectionSharedMemory(config: HubConfig): Record<string, SharedArrayBuffer> {
  return Object.fromEntries(config.connections.map((c) => [c.id, new SharedArrayBuffer(connectionMemoryBytes)]));
}

/** The last sync time in shared memory. Stored as ms << 1 | 1, so zeroed memory reads as "never" and
 * every real time, the epoch included, round-trips. */
function lastSyncCell(memory: SharedArrayBuffer): { get(): string | null; set(at: string | null): void } {
  const cell = new BigInt64Array(memory, LAST_SYNC_OFFSET, 1);
  return {
    get() {
      const stored = Atomics.load(cell, 0);
      return stored === 0n ? null : new Date(Number(stored >> 1n)).toISOString();
    },
    set(at) {
      if (at === null) {
        Atomics.store(cell, 0, 0n);
        return;
      }
      const ms = Date.parse(at);
      if (Number.isNaN(ms)) throw new Error(`lastSync must be an ISO time, got ${JSON.stringify(at)}`);
      Atomics.store(cell, 0, (BigInt(ms) << 1n) | 1n);
    },
  };
}

export async function buildConnections(config: HubConfig, log: Logger, opts: ConnectionOptions = {}): Promise<Map<string, ConnectionRuntime>> {
  const out = new Map<string, ConnectionRuntime>();
  const redisUrl = /^rediss?:\/\//.test(config.queue) ? config.queue : null;
  for (const settings of config.connections) {
    const where = `${config.file}: connections[id=${settings.id}]`;
    const connector = connectorById(settings.connector);
    if (!connector) throw new Error(`${where}.connector: "${settings.connector}" is not a registered connector`);
    const loaded = await loadConnectionMappings(config.mappingsDir, settings, connector.mappingKinds ?? []);
    if (!loaded.ok) throw new Error(`${where}.mappings: ${loaded.errors.map((e) => `${e.line ? `${e.file}:${e.line}:` : `${e.file}:`} ${e.reason}`).join('; ')}`);
    const memory = opts.shared ? opts.shared[settings.id] : new SharedArrayBuffer(connectionMemoryBytes);
    if (!memory || memory.byteLength < connectionMemoryBytes) {
      // The thread that made the memory read a different hub.yaml (or none): sharing would be a guess.
      throw new Error(`${where}: no shared memory for this connection${memory ? ` (${memory.byteLength} bytes, ${connectionMemoryBytes} needed)` : ''}; create it with connectionSharedMemory from the same config`);
    }
    const breaker = createCircuitBreaker({ ...opts.breaker, memory });
    const lastSync = lastSyncCell(memory);
    const limiter: RateLimiter | undefined = settings.rateLimit ? createRateLimiter({ id: settings.id, perSecond: settings.rateLimit.perSecond, redisUrl }) : undefined;
    // Schemes the client cannot do from connection.auth alone (GitHub App installation tokens) come
    // from the connector; one instance per connection so it can cache its token.
    const connectionAuth = connector.auth && settings.auth ? connector.auth(settings, globalThis.fetch) : null;
    const http = createHttpClient({
      connection: settings,
      vendor: connector.vendor,
      log,
      ...(connectionAuth ? { authHeaders: () => connectionAuth.headers() } : {}),
      ...(connectionAuth?.invalidate ? { authInvalidate: () => connectionAuth.invalidate!() } : {}),
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
      get lastSync() {
        return lastSync.get();
      },
      set lastSync(at: string | null) {
        lastSync.set(at);
      },
      close: async () => {
        await limiter?.close();
      },
    });
  }
  return out;
}
