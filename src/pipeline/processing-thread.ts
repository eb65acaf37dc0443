// The serving hub processes on a thread of its own: the queue consumers (deliveries, outbound actions,
// timers) and the reconciliation schedule. Processing a change costs milliseconds of CPU (decide,
// store, audit, render the callbacks), and on the HTTP thread those milliseconds would sit between a
// webhook and its 202: a burst of deliveries would delay every answer behind the work it causes.
// Here the HTTP thread only acknowledges, and the processing thread runs at a lower OS priority, so on a
// machine short of cores the acknowledgements come first and processing takes the time left over.
//
// The thread opens its own store and queue connections (SQLite files and MongoDB/Redis are all shared
// safely between connections) and builds its own connections from the same hub.yaml; each connection's
// circuit breaker and last-sync time live in shared memory (connectionSharedMemory), so /readyz and
// /api/v1/connections on the HTTP thread show what the processing thread sees. Reloads start on the HTTP
// thread (it owns SIGHUP and the file watchers), which tells this thread to load the files too.
import { Worker } from 'node:worker_threads';
import type { JobKind } from '../queue/port.ts';
import type { Logger } from '../sdk/index.ts';
import type { ConnectionOptions } from './connections.ts';
import type { ReloadStatus } from './reload.ts';

export interface ProcessingThreadSpec {
  /** The hub.yaml path and environment the configuration was loaded from (secrets do not cross threads). */
  configFile: string;
  env: Record<string, string>;
  /** One block per connection, from connectionSharedMemory. */
  shared: Record<string, SharedArrayBuffer>;
  /** Tuning passed through to the thread's connections (tests). */
  connectionOptions?: Omit<ConnectionOptions, 'shared'>;
  concurrency?: Partial<Record<JobKind, number>>;
}

export interface ProcessingThread {
  /** Loads policy, directory and mappings again on the thread; resolves with its outcome there. */
  reload(): Promise<ReloadStatus>;
  /** Lets running jobs finish, closes the thread's connections and ends it. */
  stop(): Promise<void>;
}

export type ProcessingReply =
  | { type: 'ready' }
  | { type: 'startup-failed'; error: string }
  | { type: 'reloaded'; id: number; status: ReloadStatus }
  | { type: 'stopped'; id: number };

export async function startProcessingThread(spec: ProcessingThreadSpec, log: Logger): Promise<ProcessingThread> {
  const worker = new Worker(new URL('./processing-worker.ts', import.meta.url), { workerData: spec });
  const waiting = new Map<number, (r: ProcessingReply) => void>();
  let nextId = 1;
  let exited = false;
  let failure: Error | null = null;
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: ProcessingReply) => (m.type === 'ready' ? resolve() : reject(new Error(m.type === 'startup-failed' ? m.error : `the processing thread answered ${m.type}`))));
    worker.once('error', reject);
  });
  worker.on('message', (m: ProcessingReply) => {
    if ('id' in m) {
      waiting.get(m.id)?.(m);
      waiting.delete(m.id);
    }
  });
  worker.on('error', (err) => {
    // Nothing is lost (jobs are leased; another start takes them again), but nothing is processed either:
    // /readyz would not say so, so the process stops (exit code 1) and its supervisor restarts it.
    failure = err;
    log.error({ err: String(err) }, 'the processing thread failed; stopping the hub');
    process.kill(process.pid, 'SIGTERM');
  });
  worker.on('exit', () => {
    exited = true;
    for (const f of waiting.values()) f({ type: 'stopped', id: 0 });
    waiting.clear();
  });
  const ask = (type: 'reload' | 'stop'): Promise<ProcessingReply> => {
    if (exited) return Promise.resolve({ type: 'stopped', id: 0 });
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      worker.postMessage({ type, id });
    });
  };
  return {
    async reload() {
      const r = await ask('reload');
      if (r.type !== 'reloaded') throw new Error('the processing thread has stopped');
      return r.status;
    },
    async stop() {
      await ask('stop');
      await worker.terminate();
      if (failure) throw new Error(`the processing thread failed: ${failure.message}`);
    },
  };
}
