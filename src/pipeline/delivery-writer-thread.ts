// The delivery writer's thread (see delivery-writer.ts): its own store and queue connections, one commit
// for all the deliveries the HTTP thread sent while the previous commit ran.
import { workerData } from 'node:worker_threads';
import { loadConfig } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { openPorts } from '../ports.ts';
import { serveHubThread } from '../threads.ts';
import { localDeliveryWriter, type DeliveryToWrite, type ThreadPorts, type WriterAnswer, type WriterRequest, type WrittenDelivery } from './delivery-writer.ts';

const spec = workerData as ThreadPorts;

await serveHubThread(async () => {
  const config = loadConfig({ file: spec.configFile, env: spec.env });
  const log = createLogger({ level: config.log.level, base: { service: 'approval-hub', thread: 'delivery-writer' } });
  const { store, queue } = await openPorts(config, log, { backgroundCheckpoints: false });
  const writer = localDeliveryWriter(store, queue, log);
  const counters = () => ({ pendingEnqueues: writer.pendingEnqueues(), enqueueFailures: writer.enqueueFailures() });
  let batch: { items: DeliveryToWrite[]; resolve: (r: WrittenDelivery[]) => void; reject: (e: unknown) => void }[] = [];

  const flush = async () => {
    const taken = batch;
    batch = [];
    try {
      const results = await writer.write(taken.flatMap((m) => m.items));
      let at = 0;
      for (const m of taken) {
        m.resolve(results.slice(at, at + m.items.length));
        at += m.items.length;
      }
    } catch (err) {
      for (const m of taken) m.reject(err);
    }
  };

  return async (request: WriterRequest): Promise<WriterAnswer> => {
    if (request.type === 'write') {
      // Requests that arrive in one turn of this thread's event loop share the commit made after it.
      if (batch.length === 0) setImmediate(() => void flush());
      const results = await new Promise<WrittenDelivery[]>((resolve, reject) => batch.push({ items: request.items, resolve, reject }));
      return { results, ...counters() };
    }
    while (batch.length > 0) await new Promise((r) => setImmediate(r));
    await writer.drained();
    if (request.type === 'close') {
      await queue.close();
      await store.close();
      log.flush?.();
    }
    return { results: [], ...counters() };
  };
});
