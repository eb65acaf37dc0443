// The embedded store: one SQLite file (WAL), shared safely by several processes on one machine.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Logger } from '../../sdk/index.ts';
import { checkpointInBackground } from '../../sqlite/checkpoints.ts';
import { writeLockFor } from '../../sqlite/write-lock.ts';
import type { Store } from '../port.ts';
import { sqliteAudit } from './audit.ts';
import { sqliteChanges } from './changes.ts';
import { sqliteConflicts } from './conflicts.ts';
import { makeDb, type Synchronous } from './db.ts';
import { sqliteDeliveries } from './deliveries.ts';
import { sqliteJobs } from './jobs.ts';
import { sqliteLinks } from './links.ts';
import { migrate } from './migrations.ts';
import { sqliteCursors, sqliteTicks } from './schedule.ts';
import { sqliteTokens } from './tokens.ts';

export interface SqliteOptions {
  now?: () => Date;
  /** How long a writer waits for another process's write lock before failing (ms). */
  busyTimeoutMs?: number;
  /** 'full' (default): each commit survives power loss. 'normal': survives a killed process only. */
  synchronous?: Synchronous;
  /** Checkpoint the WAL on a worker thread (a serving hub) instead of inside commits; see src/sqlite/checkpoints.ts. */
  backgroundCheckpoints?: { log: Logger };
}

/** Opens (creating the folder and file if needed) the SQLite store at `path` (":memory:" for tests).
 * Call `migrate()` before use; `openStore` does. */
export function openSqliteStore(path: string, opts: SqliteOptions = {}): Store {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sql = new DatabaseSync(path);
  // WAL lets readers run while one process writes. Durability per commit: see Synchronous in db.ts.
  sql.exec(`PRAGMA busy_timeout = ${opts.busyTimeoutMs ?? 10_000}`);
  sql.exec('PRAGMA journal_mode = WAL');
  sql.exec('PRAGMA foreign_keys = ON');
  const db = makeDb(sql, opts.now ?? (() => new Date()), opts.synchronous, writeLockFor(path));
  const stopCheckpoints = opts.backgroundCheckpoints ? checkpointInBackground(path, opts.backgroundCheckpoints.log) : async () => {};
  let migrated = false;
  const ready = () => {
    if (!migrated) throw new Error('the SQLite store is used before migrate() (openStore calls it)');
  };
  // Record groups prepare their statements when built, so they are built after the tables exist.
  let built: Omit<Store, 'kind' | 'migrate' | 'ping' | 'close'> | null = null;
  const group = <K extends keyof NonNullable<typeof built>>(k: K) => {
    ready();
    return built![k];
  };
  return {
    kind: 'sqlite',
    get changes() { return group('changes'); },
    get links() { return group('links'); },
    get deliveries() { return group('deliveries'); },
    get jobs() { return group('jobs'); },
    get conflicts() { return group('conflicts'); },
    get audit() { return group('audit'); },
    get tokens() { return group('tokens'); },
    get cursors() { return group('cursors'); },
    get ticks() { return group('ticks'); },
    async migrate() {
      migrate(db);
      if (!built) {
        built = {
          changes: sqliteChanges(db), links: sqliteLinks(db), deliveries: sqliteDeliveries(db), jobs: sqliteJobs(db),
          conflicts: sqliteConflicts(db), audit: sqliteAudit(db), tokens: sqliteTokens(db), cursors: sqliteCursors(db),
          ticks: sqliteTicks(db),
        };
      }
      migrated = true;
    },
    async ping() {
      sql.prepare('SELECT 1').get();
    },
    async close() {
      if (sql.isOpen) db.flush();
      await stopCheckpoints();
      if (sql.isOpen) sql.close();
    },
  };
}
