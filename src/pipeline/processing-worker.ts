// The processing thread's entry (see processing-thread.ts).
import { setPriority } from 'node:os';
import { workerData } from 'node:worker_threads';
import { loadConfig } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { openPorts } from '../ports.ts';
import { serveHubThread } from '../threads.ts';
import { createPipeline } from './index.ts';
import type { ProcessingRequest, ProcessingThreadSpec } from './processing-thread.ts';

const spec = workerData as ProcessingThreadSpec;

await serveHubThread(async () => {
  // On Linux a nice value set with "pid 0" applies to the calling thread alone: this thread yields the
  // cores to the HTTP thread's acknowledgements and takes the time they leave.
  try {
    setPriority(0, 10);
  } catch {
    // Not permitted here (some containers): processing simply competes as an equal.
  }
  const config = loadConfig({ file: spec.configFile, env: spec.env });
  const log = createLogger({ level: config.log.level, base: { service: 'approval-hub', thread: 'processing' } });
  const { store, queue } = await openPorts(config, log, { backgroundCheckpoints: false });
  const pipeline = createPipeline({
    config,
    store,
    queue,
    log,
    connectionOptions: { ...spec.connectionOptions, shared: spec.shared },
    ...(spec.concurrency ? { concurrency: spec.concurrency } : {}),
  });
  await pipeline.start({ watch: false });
  return async (request: ProcessingRequest) => {
    if (request.type === 'reload') return pipeline.reload();
    // As the hub's own shutdown: running jobs finish first, then the connections, then the store.
    await queue.close().catch((err: unknown) => log.error({ err: String(err) }, 'closing the queue failed'));
    await pipeline.stop().catch((err: unknown) => log.error({ err: String(err) }, 'stopping the pipeline failed'));
    await store.close().catch((err: unknown) => log.error({ err: String(err) }, 'closing the store failed'));
    log.flush?.();
    return null;
  };
});
