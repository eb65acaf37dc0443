// The hub's helper threads (processing, the SQLite delivery writer) and the thread that starts them
// speak one small protocol: the thread reports it is ready (or why it could not start), then answers
// each request by id. A thread that fails stops the whole process (exit code 1), so its supervisor
// restarts it: a hub half-alive — serving the API but processing nothing, or refusing every webhook —
// would look healthy from outside.
import { parentPort, Worker } from 'node:worker_threads';
import type { Logger } from './sdk/index.ts';

type Reply = { id: number; ok: true; answer: unknown } | { id: number; ok: false; error: string } | { ready: true } | { startupFailed: string };

export interface HubThread {
  /** Sends a request and resolves with the thread's answer; rejects once the thread has stopped. */
  ask<A>(request: object): Promise<A>;
  /** Sends `lastRequest` (a graceful close) if the thread still runs, then ends it; throws if it failed. */
  stop(lastRequest?: object): Promise<void>;
}

/** Starts `entry` (a module that calls serveHubThread) and resolves once it is ready. */
export async function startHubThread(entry: URL, workerData: unknown, opts: { name: string; log: Logger }): Promise<HubThread> {
  // Named, so the OS shows each thread's CPU under its name (top -H, /proc/<pid>/task/*/comm).
  const worker = new Worker(entry, { workerData, name: opts.name });
  const waiting = new Map<number, { resolve: (a: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let stopped: Error | null = null;
  let failure: Error | null = null;
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: Reply) => ('ready' in m ? resolve() : reject(new Error('startupFailed' in m ? m.startupFailed : `the ${opts.name} thread did not start`))));
    worker.once('error', reject);
  });
  const endAll = (err: Error) => {
    stopped ??= err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  worker.on('message', (m: Reply) => {
    if (!('id' in m)) return;
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w?.resolve(m.answer);
    else w?.reject(new Error(m.error));
  });
  worker.on('error', (err) => {
    failure = err;
    opts.log.error({ err: String(err) }, `the ${opts.name} thread failed; stopping the hub`);
    endAll(err);
    process.kill(process.pid, 'SIGTERM');
  });
  worker.on('exit', () => endAll(new Error(`the ${opts.name} thread has stopped`)));
  const ask = <A>(request: object): Promise<A> => {
    if (stopped) return Promise.reject(stopped);
    const id = nextId++;
    return new Promise<A>((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (a: unknown) => void, reject });
      worker.postMessage({ id, request });
    });
  };
  return {
    ask,
    async stop(lastRequest) {
      if (!stopped) {
        if (lastRequest) await ask(lastRequest).catch(() => undefined);
        await worker.terminate();
      }
      if (failure) throw new Error(`the ${opts.name} thread failed: ${failure.message}`);
    },
  };
}

/** The thread's side: `setup` opens what the thread needs and returns how it answers a request. */
export async function serveHubThread(setup: () => Promise<(request: never) => Promise<unknown>>): Promise<void> {
  const port = parentPort!;
  let answer: (request: never) => Promise<unknown>;
  try {
    answer = await setup();
  } catch (err) {
    port.postMessage({ startupFailed: err instanceof Error ? err.message : String(err) } satisfies Reply);
    return;
  }
  port.on('message', ({ id, request }: { id: number; request: never }) => {
    answer(request).then(
      (a) => port.postMessage({ id, ok: true, answer: a } satisfies Reply),
      (err: unknown) => port.postMessage({ id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies Reply),
    );
  });
  port.postMessage({ ready: true } satisfies Reply);
}
