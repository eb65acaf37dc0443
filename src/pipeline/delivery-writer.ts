// Where ingest's writes happen: the delivery row, durable before the sender's 202, then the delivery's
// processing job. Three places, one contract:
// - in the HTTP thread, for drivers whose I/O never blocks it (MongoDB, Redis);
// - on a thread of its own for SQLite, whose commits are synchronous: run on the HTTP thread, every
//   batch's commit (and its fsync) stops the parsing and answering of every other webhook for its
//   duration. On its own thread the commit of one batch overlaps the reading of the next;
// - in front of that thread, the ingest journal (ingest-journal.ts): durable once synced to its file,
//   so the 202 does not wait for the thread's commit.
import type { Queue } from '../queue/port.ts';
import type { Logger } from '../sdk/index.ts';
import { startHubThread } from '../threads.ts';
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
  /** A delivery acknowledged but not in the store yet (only the ingest journal has such: ingest-journal.ts). */
  pending(id: string): NewDelivery | null;
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
    pending: () => null,
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

/** What the writer thread is asked (delivery-writer-thread.ts answers). */
export type WriterRequest = { type: 'write'; items: DeliveryToWrite[] } | { type: 'drain' } | { type: 'close' };
/** Every answer carries the thread's enqueue counters, so the HTTP thread reads them without asking. */
export interface WriterAnswer {
  results: WrittenDelivery[];
  pendingEnqueues: number;
  enqueueFailures: number;
}

/** The writer on a thread of its own, with its own store and queue connections to the same files. */
export async function threadDeliveryWriter(ports: ThreadPorts, log: Logger): Promise<DeliveryWriter> {
  const thread = await startHubThread(new URL('./delivery-writer-thread.ts', import.meta.url), ports, { name: 'delivery writer', log });
  let pending = 0;
  let failures = 0;
  const ask = async (request: WriterRequest): Promise<WriterAnswer> => {
    const answer = await thread.ask<WriterAnswer>(request);
    pending = answer.pendingEnqueues;
    failures = answer.enqueueFailures;
    return answer;
  };
  return {
    // The thread gathers by itself: whatever arrives while it commits goes into its next commit.
    gatherMs: 0,
    write: async (items) => (await ask({ type: 'write', items })).results,
    pending: () => null,
    pendingEnqueues: () => pending,
    enqueueFailures: () => failures,
    async drained() {
      // A thread that has stopped has nothing left to drain.
      await ask({ type: 'drain' }).catch(() => undefined);
    },
    close: () => thread.stop({ type: 'close' } satisfies WriterRequest),
  };
}
