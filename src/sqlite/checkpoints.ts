// WAL checkpoints away from the event loop. node:sqlite runs on the thread that calls it, and an
// automatic checkpoint runs inside whichever commit pushes the WAL past its size limit: that commit
// then copies the WAL into the database file and fsyncs it, stalling every webhook answer behind it
// for tens of milliseconds. A worker thread with its own connections checkpoints each file every
// few hundred milliseconds instead (PASSIVE: it never waits for, or blocks, the writers), so the WAL
// stays far below the automatic limit and the hub's own commits stay short. Should the worker stop,
// SQLite's automatic checkpoints still run: this is a speed measure, never a correctness one.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../sdk/index.ts';

const intervalMs = 200;

let worker: Worker | null = null;
const watched = new Map<string, number>();

function post(): void {
  worker?.postMessage({ paths: [...watched.keys()], intervalMs });
}

/** Checkpoints the SQLite file at `path` in the background until the returned function is called. */
export function checkpointInBackground(path: string, log: Logger): () => Promise<void> {
  if (path === ':memory:') return async () => {};
  watched.set(path, (watched.get(path) ?? 0) + 1);
  if (!worker) {
    worker = new Worker(new URL('./checkpoint-worker.ts', import.meta.url));
    // The process may exit with the worker still running (a CLI, a test): it holds nothing to flush.
    worker.unref();
    worker.on('error', (err) => log.warn({ err: String(err) }, 'sqlite: background checkpoints stopped; SQLite checkpoints within commits again'));
    worker.on('message', (m: { path: string; error: string }) => log.warn({ file: m.path, err: m.error }, 'sqlite: a background checkpoint failed'));
  }
  post();
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    const n = (watched.get(path) ?? 1) - 1;
    if (n > 0) watched.set(path, n);
    else watched.delete(path);
    if (watched.size > 0) return post();
    const w = worker;
    worker = null;
    await w?.terminate();
  };
}
