// Where ingest's writes happen: the delivery row, whose commit precedes the sender's 202, then the
// delivery's processing job. Two places, one contract:
// - in the HTTP thread, for drivers whose I/O never blocks it (MongoDB, Redis);
// - on a thread of its own for SQLite, whose commits are synchronous: run on the HTTP thread, every
//   batch's commit (and its fsync) stops the parsing and answering of every other webhook for its
//   duration. On its own thread the commit of one batch overlaps the reading of the next.
import { Worker } from 'node:worker_threads';
import type { Queue } from '../queue/port.ts';
import type { Logger } from '../sdk/index.ts';
import type { DeliveryRecord, Store } from '../store/port.ts';

export type NewDelivery = Omit<DeliveryRecord, 'status' | 'reason' | 'processedAt'>;

export interface DeliveryToWrite {
  delivery: NewDelivery;
  /** The queue key of its processing job (see deliveryJobKey in ingest.ts). */
  jobKey: string;
}

export interface WrittenDelivery {
  /** False when a delivery with the same dedupe key was stored before (deliveryId is that one's). */
  inserted: boolean;
  deliveryId: string;
}

export interface DeliveryWriter {
  /** How long ingest should gather deliveries before a write (more per commit, a little later each). */
  readonly gatherMs: number;
  /** Stores the deliveries in one durable commit (a duplicate dedupe key stores nothing); resolves once
   * they are durable. Each inserted one is then handed to the queue, after the resolve: the sender is
   * not kept waiting for the queue, and an enqueue lost in a crash is redone by ingest's sweep. */
  write(items: DeliveryToWrite[]): Promise<WrittenDelivery[]>;
  /** Deliveries stored but not yet handed to the queue. */
  pendingEnqueues(): number;
  /** How many stored deliveries the queue refused since the writer started (ingest's sweep queues them). */
  enqueueFailures(): number;
  /** Resolves when every write and enqueue asked for so far has finished. */
  drained(): Promise<void>;
  close(): Promise<void>;
}

/** The writer that runs where it is called. */
export function localDeliveryWriter(store: Store, queue: Queue, log: Logger): DeliveryWriter {
  let writing = 0;
  let pending = 0;
  let failures = 0;
  const idle: (() => void)[] = [];
  const settle = () => {
    if (writing === 0 && pending === 0) for (const f of idle.splice(0)) f();
  };

  function enqueue(id: string, connectionId: string, key: string): void {
    pending++;
    queue
      .enqueue({ kind: 'delivery', id, key, payload: { deliveryId: id } })
      .catch((err: unknown) => {
        // Stored and acknowledged already: ingest's sweep will enqueue it once the queue answers again.
        failures++;
        log.error({ connection: connectionId, deliveryId: id, err: String(err) }, 'webhook stored but not queued; the sweep will retry');
      })
      .finally(() => {
        pending--;
        settle();
      });
  }

  return {
    // Requests answered by one commit send their next deliveries within a millisecond or two.
    gatherMs: 2,
    async write(items) {
      writing++;
      try {
        const results = await store.deliveries.insertMany(items.map((i) => i.delivery));
        results.forEach((r, n) => r.inserted && enqueue(r.delivery.id, r.delivery.connectionId, items[n]!.jobKey));
        return results.map((r) => ({ inserted: r.inserted, deliveryId: r.delivery.id }));
      } finally {
        writing--;
        settle();
      }
    },
    pendingEnqueues: () => pending,
    enqueueFailures: () => failures,
    drained: () => (writing === 0 && pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve))),
    async close() {
      await this.drained();
    },
  };
}

/** What the writer thread needs to open the store and queue the way this process did. */
export interface ThreadPorts {
  /** The hub.yaml path and environment the configuration was loaded from (secrets do not cross threads). */
  configFile: string;
  env: Record<string, string>;
}

type Reply =
  | { type: 'written'; id: number; results: WrittenDelivery[]; pendingEnqueues: number; enqueueFailures: number }
  | { type: 'failed'; id: number; error: string }
  | { type: 'drained'; id: number; pendingEnqueues: number; enqueueFailures: number }
  | { type: 'ready' }
  | { type: 'startup-failed'; error: string };

/** The writer on a thread of its own, with its own store and queue connections to the same files. */
export async function threadDeliveryWriter(ports: ThreadPorts, log: Logger): Promise<DeliveryWriter> {
  const worker = new Worker(new URL('./delivery-writer-thread.ts', import.meta.url), { workerData: ports });
  const waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let pending = 0;
  let failures = 0;
  let dead: Error | null = null;

  const failAll = (err: Error) => {
    dead ??= err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: Reply) => (m.type === 'ready' ? resolve() : reject(new Error(m.type === 'startup-failed' ? m.error : 'the delivery writer did not start'))));
    worker.once('error', reject);
  });
  worker.on('message', (m: Reply) => {
    if (!('id' in m)) return;
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if ('pendingEnqueues' in m) {
      pending = m.pendingEnqueues;
      failures = m.enqueueFailures;
    }
    w?.resolve(m);
  });
  let failure: Error | null = null;
  worker.on('error', (err) => {
    // Webhooks would be refused (503) for as long as the process lives: it stops instead (exit code 1)
    // so its supervisor restarts it; what was acknowledged is stored, and the start-up sweep queues it.
    failure = err;
    log.error({ err: String(err) }, 'the delivery writer thread failed; stopping the hub');
    failAll(err);
    process.kill(process.pid, 'SIGTERM');
  });
  worker.on('exit', () => failAll(new Error('the delivery writer thread has stopped')));

  function ask(message: { type: 'write'; items: DeliveryToWrite[] } | { type: 'drain' } | { type: 'close' }): Promise<Reply> {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise<Reply>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage({ ...message, id });
    });
  }

  return {
    // The thread gathers by itself: whatever arrives while it commits goes into its next commit.
    gatherMs: 0,
    async write(items) {
      const r = await ask({ type: 'write', items });
      if (r.type === 'failed') throw new Error(r.error);
      if (r.type !== 'written') throw new Error(`the delivery writer answered ${r.type}`);
      return r.results;
    },
    pendingEnqueues: () => pending,
    enqueueFailures: () => failures,
    async drained() {
      if (dead) return;
      await ask({ type: 'drain' });
    },
    async close() {
      if (!dead) {
        await ask({ type: 'close' }).catch(() => undefined);
        await worker.terminate();
      }
      if (failure) throw new Error(`the delivery writer thread failed: ${failure.message}`);
    },
  };
}
