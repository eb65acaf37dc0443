// Opens the store the configuration names. The only place that knows both adapters exist.
import type { Logger } from '../sdk/index.ts';
import { StoreInputError, type Store } from './port.ts';
import type { Synchronous } from './sqlite/db.ts';

export interface OpenStoreOptions {
  log?: Logger;
  /** Clock for updatedAt/createdAt stamps (tests). */
  now?: () => Date;
  /** SQLite only: checkpoint the WAL on a worker thread, off the event loop (the serving hub sets it). */
  backgroundCheckpoints?: boolean;
}

/**
 * "sqlite:<path>[?synchronous=deliveries|full|normal]" (folder created; "sqlite::memory:" for tests) or "mongodb://…" / "mongodb+srv://…"
 * (the database is the URL's path, default "approval-hub"). Runs `migrate()` before returning.
 */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  let store: Store;
  if (url.startsWith('sqlite:')) {
    const [path, query] = url.slice('sqlite:'.length).split('?', 2) as [string, string | undefined];
    if (!path) throw new StoreInputError('store: "sqlite:" needs a file path, e.g. sqlite:./data/hub.db');
    const synchronous = sqliteSynchronous(query);
    // Loaded on demand so a MongoDB deployment never opens SQLite, and vice versa.
    const { openSqliteStore } = await import('./sqlite/index.ts');
    store = openSqliteStore(path, { now: opts.now, synchronous, ...(opts.backgroundCheckpoints ? { backgroundCheckpoints: { log: opts.log ?? quiet } } : {}) });
  } else if (url.startsWith('mongodb://') || url.startsWith('mongodb+srv://')) {
    const { openMongoStore } = await import('./mongo/index.ts');
    store = await openMongoStore(url, { now: opts.now });
  } else {
    throw new StoreInputError(`store: "${redact(url)}" is neither sqlite:<path> nor mongodb://…`);
  }
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  opts.log?.info({ store: store.kind }, 'store ready');
  return store;
}

/** "sqlite:<path>?synchronous=…": deliveries (default: acknowledged input fsync'd, the rest survives a
 * killed process), full (every commit fsync'd) or normal (no commit fsync'd). See Synchronous in sqlite/db.ts. */
function sqliteSynchronous(query: string | undefined): Synchronous {
  const params = new URLSearchParams(query ?? '');
  for (const key of params.keys()) {
    if (key !== 'synchronous') throw new StoreInputError(`store: unknown sqlite option "${key}" (known: synchronous=deliveries|full|normal)`);
  }
  const value = params.get('synchronous') ?? 'deliveries';
  if (value !== 'full' && value !== 'normal' && value !== 'deliveries') {
    throw new StoreInputError(`store: synchronous must be deliveries, full or normal, got "${value}"`);
  }
  return value;
}

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} };

/** Store URLs may carry a password; never echo it. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
