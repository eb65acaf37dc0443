// Opens the configured queue: "embedded" is the SQLite file next to the hub, "redis://…" is BullMQ.
// Callers get the port; nothing outside src/queue/ knows which adapter runs.
import type { Logger } from '../sdk/index.ts';
import type { Queue } from './port.ts';
import { openBullmqQueue } from './bullmq/bullmq-queue.ts';
import { openEmbeddedQueue } from './embedded/sqlite-queue.ts';
import { resolveTuning, type QueueTuning } from './tuning.ts';

export type { QueueTuning } from './tuning.ts';

export interface QueueDeps {
  /** Embedded queue file; default ./data/queue.db; ":memory:" for a throwaway queue. */
  sqlitePath?: string;
  log?: Logger;
  /** Redis key prefix (BullMQ); default "approval-hub". Two hubs sharing one Redis use different ones. */
  redisPrefix?: string;
  /** Timing knobs; production keeps the defaults, tests shorten them. */
  tuning?: Partial<QueueTuning>;
  /** Embedded only: checkpoint the WAL on a worker thread, off the event loop (the serving hub sets it). */
  backgroundCheckpoints?: boolean;
}

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} };

export async function openQueue(url: string, deps: QueueDeps = {}): Promise<Queue> {
  const log = deps.log ?? quiet;
  const tuning = resolveTuning(deps.tuning);
  if (url === 'embedded') return openEmbeddedQueue({ path: deps.sqlitePath ?? './data/queue.db', log, tuning, backgroundCheckpoints: deps.backgroundCheckpoints === true });
  if (url.startsWith('redis://') || url.startsWith('rediss://')) {
    return openBullmqQueue({ url, prefix: deps.redisPrefix ?? 'approval-hub', log, tuning });
  }
  throw new Error(`queue: url must be "embedded" or a redis:// URL, got ${JSON.stringify(url)}`);
}
