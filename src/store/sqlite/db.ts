// The one SQLite connection of a process and the few helpers every record group uses.
// node:sqlite is synchronous: a statement runs to completion before any other JavaScript does, so
// within one process nothing interleaves inside a transaction. Across processes, SQLite's file lock
// does the work: BEGIN IMMEDIATE takes the write lock up front and busy_timeout waits for it.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { groupCommit } from '../../sqlite/group-commit.ts';
import { immediateTransaction, statementCache } from '../../sqlite/transaction.ts';
import type { WriteLock } from '../../sqlite/write-lock.ts';
import { StoreConflictError, StoreInputError, type Json, type JsonObject } from '../port.ts';

export interface Db {
  sql: DatabaseSync;
  /** A prepared statement for `text`, prepared once per connection (src/sqlite/transaction.ts). */
  stmt(text: string): StatementSync;
  now(): string;
  /** Runs `fn` inside BEGIN IMMEDIATE … COMMIT at once (ROLLBACK on throw). For migrations and for
   * `write`'s group commit; record groups use `write`. */
  transaction<T>(fn: () => T): T;
  /** Group commit (src/sqlite/group-commit.ts): settles after the shared COMMIT. `durable`: that commit
   * is fsync'd even when the connection otherwise runs with synchronous=NORMAL (see Synchronous); the
   * writes sharing it are made durable with it. */
  write<T>(fn: () => T, opts?: { durable?: boolean }): Promise<T>;
  /** Commits the writes still waiting for their turn (before closing). */
  flush(): void;
}

/** How commits reach the disk. 'deliveries' (the default): commits that precede an acknowledgement to
 * a sender (delivery inserts) are fsync'd; every other commit is NORMAL, i.e. durable when the process
 * is killed but not on power loss. In WAL mode an fsync'd commit also persists every commit before it,
 * and what the pipeline writes is re-derived from stored deliveries, so the acknowledged input is never
 * lost while the event loop is not blocked by an fsync for each pipeline write. */
export type Synchronous = 'full' | 'normal' | 'deliveries';

export function makeDb(sql: DatabaseSync, now: () => Date, synchronous: Synchronous = 'deliveries', lock: WriteLock = { run: (fn) => fn() }): Db {
  const base = synchronous === 'full' ? 'FULL' : 'NORMAL';
  sql.exec(`PRAGMA synchronous = ${base}`);
  const transaction = immediateTransaction(sql, lock);

  const commits = groupCommit({
    sql,
    transaction,
    durably:
      synchronous === 'deliveries'
        ? (commit) => {
            sql.exec('PRAGMA synchronous = FULL');
            try {
              commit();
            } finally {
              sql.exec(`PRAGMA synchronous = ${base}`);
            }
          }
        : undefined,
  });

  return {
    sql,
    stmt: statementCache(sql),
    now: () => now().toISOString(),
    transaction,
    write: commits.write,
    flush: commits.flush,
  };
}
/** SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY: a unique index had its one winner already. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { errcode?: number } | null)?.errcode;
  return code === 2067 || code === 1555;
}

/** Runs an insert; a unique violation becomes StoreConflictError with `what` as the message. */
export function insertOrConflict<T>(run: () => T, what: string): T {
  try {
    return run();
  } catch (err) {
    if (isUniqueViolation(err)) throw new StoreConflictError(what);
    throw err;
  }
}

export const toJson = (v: Json | Record<string, string>): string => JSON.stringify(v);
export const fromJson = <T = JsonObject>(v: unknown): T => JSON.parse(String(v)) as T;
export const maybeJson = <T = JsonObject>(v: unknown): T | null => (v === null || v === undefined ? null : fromJson<T>(v));
export const str = (v: unknown): string => String(v);
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** Timestamps are compared as text, so every stored one is normalised to toISOString's format. */
export function isoTime(value: string, field: string): string {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new StoreInputError(`${field}: "${value}" is not an ISO-8601 time`);
  return d.toISOString();
}

export type Row = Record<string, SQLInputValue>;
