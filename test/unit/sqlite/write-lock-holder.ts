// Holds the write lock of a file for a while from another thread (write-lock.test.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { writeLockFor } from '../../../src/sqlite/write-lock.ts';

const { path, holdMs } = workerData as { path: string; holdMs: number };
writeLockFor(path).run(() => {
  parentPort!.postMessage('held');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, holdMs);
});
parentPort!.postMessage('released');
