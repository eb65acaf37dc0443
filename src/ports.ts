// Opens the store and queue a configuration names. The serving hub's threads each open their own
// connections to the same store and queue (SQLite files or MongoDB + Redis) through this one function.
import { embeddedQueuePath } from './config/paths.ts';
import type { HubConfig } from './config/types.ts';
import { openQueue } from './queue/index.ts';
import type { Queue } from './queue/port.ts';
import type { Logger } from './sdk/index.ts';
import { openStore } from './store/index.ts';
import type { Store } from './store/port.ts';

export interface Ports {
  store: Store;
  queue: Queue;
}

/** `backgroundCheckpoints`: the SQLite files' WAL is checkpointed on a helper thread; one opener per
 * process asks for it (the HTTP thread). */
export async function openPorts(config: HubConfig, log: Logger, opts: { backgroundCheckpoints: boolean }): Promise<Ports> {
  const store = await openStore(config.store, { log, backgroundCheckpoints: opts.backgroundCheckpoints });
  try {
    const queue = await openQueue(config.queue, { log, sqlitePath: embeddedQueuePath(config), backgroundCheckpoints: opts.backgroundCheckpoints });
    return { store, queue };
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
}

/** True when the store lives in this process's memory: nothing else, not even another thread, can open it. */
export function storeInMemory(config: HubConfig): boolean {
  return config.store === 'sqlite::memory:';
}
