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
import type { JobKind } from '../queue/port.ts';
import type { Logger } from '../sdk/index.ts';
import { startHubThread } from '../threads.ts';
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

/** What the processing thread is asked (processing-worker.ts answers). */
export type ProcessingRequest = { type: 'reload' } | { type: 'stop' };

export async function startProcessingThread(spec: ProcessingThreadSpec, log: Logger): Promise<ProcessingThread> {
  const thread = await startHubThread(new URL('./processing-worker.ts', import.meta.url), spec, { name: 'processing', log });
  return {
    reload: () => thread.ask<ReloadStatus>({ type: 'reload' } satisfies ProcessingRequest),
    // As the hub's own shutdown: running jobs finish, then the thread's connections close.
    stop: () => thread.stop({ type: 'stop' } satisfies ProcessingRequest),
  };
}
