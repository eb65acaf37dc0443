// The delivery writer's thread (see delivery-writer.ts): its own store and queue connections, one commit
// for all the deliveries the HTTP thread sent while the previous commit ran.
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { openPorts } from '../ports.ts';
import { localDeliveryWriter, type DeliveryToWrite, type ThreadPorts } from './delivery-writer.ts';

type Message = { id: number } & ({ type: 'write'; items: DeliveryToWrite[] } | { type: 'drain' } | { type: 'close' });

const port = parentPort!;
const spec = workerData as ThreadPorts;

try {
  const config = loadConfig({ file: spec.configFile, env: spec.env });
  const log = createLogger({ level: config.log.level, base: { service: 'approval-hub', thread: 'delivery-writer' } });
  const { store, queue } = await openPorts(config, log, { backgroundCheckpoints: false });
  const writer = localDeliveryWriter(store, queue, log);
  let batch: { id: number; items: DeliveryToWrite[] }[] = [];

  const flush = async () => {
    const taken = batch;
    batch = [];
    try {
      const results = await writer.write(taken.flatMap((m) => m.items));
      let at = 0;
      for (const m of taken) {
        port.postMessage({ type: 'written', id: m.id, results: results.slice(at, at + m.items.length), pendingEnqueues: writer.pendingEnqueues(), enqueueFailures: writer.enqueueFailures() });
        at += m.items.length;
      }
    } catch (err) {
      for (const m of taken) port.postMessage({ type: 'failed', id: m.id, error: err instanceof Error ? err.message : String(err) });
    }
  };

  port.on('message', (m: Message) => {
    if (m.type === 'write') {
      // Messages that arrive in one turn of this thread's event loop share the commit made after it.
      if (batch.length === 0) setImmediate(() => void flush());
      batch.push({ id: m.id, items: m.items });
      return;
    }
    void (async () => {
      while (batch.length > 0) await new Promise((r) => setImmediate(r));
      await writer.drained();
      if (m.type === 'close') {
        await queue.close();
        await store.close();
        log.flush?.();
      }
      port.postMessage({ type: 'drained', id: m.id, pendingEnqueues: writer.pendingEnqueues(), enqueueFailures: writer.enqueueFailures() });
    })();
  });
  port.postMessage({ type: 'ready' });
} catch (err) {
  port.postMessage({ type: 'startup-failed', error: err instanceof Error ? err.message : String(err) });
}
