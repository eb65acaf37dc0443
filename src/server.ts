// Starts the hub: config → store → queue → pipeline → HTTP app → listen → workers. `npm start` and
// `approval-hub serve` run this. SIGTERM/SIGINT stop accepting, finish in-flight requests and jobs, close.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp, closeGracefully } from './app.ts';
import { ConfigError, loadConfig } from './config/load.ts';
import { ingestJournalDir } from './config/paths.ts';
import type { HubConfig } from './config/types.ts';
import { createLogger, type Logger } from './log.ts';
import { createPipeline, type Pipeline } from './pipeline/index.ts';
import { connectionSharedMemory } from './pipeline/connections.ts';
import { threadDeliveryWriter, type DeliveryWriter } from './pipeline/delivery-writer.ts';
import { journaledDeliveryWriter } from './pipeline/ingest-journal.ts';
import { openPorts, storeInMemory } from './ports.ts';
import type { Queue } from './queue/port.ts';
import type { Store } from './store/port.ts';

export interface RunningHub {
  app: FastifyInstance;
  config: HubConfig;
  log: Logger;
  /** e.g. http://127.0.0.1:3000 */
  url: string;
  close(): Promise<boolean>;
}

/** A policy, directory or mapping file the hub cannot use. */
export class StartupFilesError extends Error {
  override name = 'StartupFilesError';
}

/** Opens everything and listens. Throws ConfigError (or StartupFilesError) for a bad configuration. */
export async function startHub(opts: { file?: string; env?: NodeJS.ProcessEnv; log?: Logger } = {}): Promise<RunningHub> {
  const config = loadConfig({ file: opts.file, env: opts.env });
  const log = opts.log ?? createLogger({ level: config.log.level });
  let store: Store | null = null;
  let queue: Queue | null = null;
  let pipeline: Pipeline | null = null;
  let app: FastifyInstance | null = null;
  let writer: DeliveryWriter | null = null;
  try {
    ({ store, queue } = await openPorts(config, log, { backgroundCheckpoints: true }));
    // Threads: processing on one (processing-thread.ts), SQLite's delivery commits on another
    // (delivery-writer.ts); each opens its own connections, so an in-memory store keeps everything here.
    const threads = !storeInMemory(config);
    const env = Object.fromEntries(Object.entries(opts.env ?? process.env).filter((e): e is [string, string] => e[1] !== undefined));
    const shared = connectionSharedMemory(config);
    const journal = ingestJournalDir(config);
    if (threads && store.kind === 'sqlite' && journal) {
      // Webhooks are acknowledged once in the ingest journal; the writer thread commits them to the store.
      const s = store;
      writer = await journaledDeliveryWriter({
        dir: journal,
        inner: await threadDeliveryWriter({ configFile: config.file, env }, log),
        lookup: (connectionId, dedupeKeys) => s.deliveries.idsByDedupeKey(connectionId, dedupeKeys),
        log,
      });
    }
    pipeline = createPipeline({
      config,
      store,
      queue,
      log,
      connectionOptions: { shared },
      ...(writer ? { deliveryWriter: writer } : {}),
      ...(threads ? { processingThread: { configFile: config.file, env, shared } } : {}),
    });
    // Policy, directory and mapping files are configuration too: a broken one stops start-up (exit 2)
    // before the port is open, not after.
    await pipeline.context().catch((err: unknown) => {
      throw new StartupFilesError((err as Error).message);
    });
    const p = pipeline;
    app = await buildApp({ config, store, queue, log, routes: p.routes, health: () => p.health() });
    // A burst of senders each opening a connection overflows Node's default accept queue (511): the
    // kernel then drops their SYNs and they retry after 1, 3, 7 s, so an overloaded hub looks hung
    // instead of answering 429. The kernel caps this at net.core.somaxconn (4096 on current Linux).
    const url = await app.listen({ host: config.server.host, port: config.server.port, backlog: 4096 });
    await pipeline.start();
    log.info({ url, store: store.kind, queue: queue.kind, connections: config.connections.length }, 'approval-hub listening');
    const parts = { app, pipeline, queue, store, log };
    return { app, config, log, url, close: () => closeGracefully(parts) };
  } catch (err) {
    if (app) await closeGracefully({ app, pipeline, queue, store, log });
    else {
      await writer?.close().catch(() => {});
      await queue?.close().catch(() => {});
      await store?.close().catch(() => {});
    }
    throw err;
  }
}

/** Runs the hub until SIGTERM/SIGINT; returns the process exit code. */
export async function serve(opts: { file?: string; env?: NodeJS.ProcessEnv; shutdownTimeoutMs?: number } = {}): Promise<number> {
  let hub: RunningHub;
  try {
    hub = await startHub(opts);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StartupFilesError) {
      process.stderr.write(`approval-hub: configuration refused\n${err.message}\n`);
      return 2;
    }
    process.stderr.write(`approval-hub: could not start: ${(err as Error).message}\n`);
    return 1;
  }
  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        hub.log.warn({ signal }, 'second signal: exiting now');
        done(1);
        return;
      }
      stopping = true;
      hub.log.info({ signal }, 'shutting down: finishing in-flight requests and jobs');
      const timer = setTimeout(() => {
        hub.log.error('shutdown took too long: exiting');
        done(1);
      }, opts.shutdownTimeoutMs ?? 30_000);
      timer.unref();
      hub.close().then((ok) => {
        clearTimeout(timer);
        hub.log.info('stopped');
        hub.log.flush?.();
        done(ok ? 0 : 1);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await serve();
  // Open handles of drivers that ignore close() must not keep a stopped hub alive.
  setTimeout(() => process.exit(), 1000).unref();
}
