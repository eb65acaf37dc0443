// A worker thread that consumes delivery jobs from an embedded queue file, as the hub's queue worker
// thread will: it posts "ready" once its consumer is registered, each handled job's id, and closes the
// queue when told "close".
import { parentPort, workerData } from 'node:worker_threads';
import { openQueue } from '../../src/queue/index.ts';

const { sqlitePath, tuning } = workerData as { sqlitePath: string; tuning: { pollMs: number } };
const port = parentPort!;
const queue = await openQueue('embedded', { sqlitePath, tuning });
queue.process('delivery', async (job) => {
  port.postMessage({ handled: job.id });
});
port.on('message', (m: unknown) => {
  if (m === 'close') void queue.close().then(() => port.close());
});
port.postMessage('ready');
