// Files the hub derives from its configuration rather than naming them in hub.yaml.
import { dirname, join, resolve } from 'node:path';
import type { HubConfig } from './types.ts';

/** The embedded queue keeps its SQLite file next to the store's (or under ./data beside the config
 * folder when the store is MongoDB); an in-memory store gets an in-memory queue. */
export function embeddedQueuePath(config: HubConfig): string {
  if (config.store === 'sqlite::memory:') return ':memory:';
  if (config.store.startsWith('sqlite:')) return join(dirname(config.store.slice('sqlite:'.length)), 'queue.db');
  return resolve(dirname(config.file), '..', 'data', 'queue.db');
}

/** The ingest journal (src/pipeline/ingest-journal.ts) of an SQLite store: a folder next to its file. */
export function ingestJournalDir(config: HubConfig): string | null {
  if (!config.store.startsWith('sqlite:') || config.store === 'sqlite::memory:') return null;
  return join(dirname(config.store.slice('sqlite:'.length)), 'ingest-journal');
}
