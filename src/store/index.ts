// Opens the store the configuration names. The only place that knows both adapters exist.
import type { Logger } from '../sdk/index.ts';
import { StoreInputError, type Store } from './port.ts';

export interface OpenStoreOptions {
  log?: Logger;
  /** Clock for updatedAt/createdAt stamps (tests). */
  now?: () => Date;
}

/**
 * "sqlite:<path>" (folder created; "sqlite::memory:" for tests) or "mongodb://…" / "mongodb+srv://…"
 * (the database is the URL's path, default "approval-hub"). Runs `migrate()` before returning.
 */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  let store: Store;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (!path) throw new StoreInputError('store: "sqlite:" needs a file path, e.g. sqlite:./data/hub.db');
    // Loaded on demand so a MongoDB deployment never opens SQLite, and vice versa.
    const { openSqliteStore } = await import('./sqlite/index.ts');
    store = openSqliteStore(path, { now: opts.now });
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

/** Store URLs may carry a password; never echo it. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
