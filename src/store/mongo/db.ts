// Shared helpers of the MongoDB adapter.
//
// Several hub processes share one database, so every write that must have one winner is a single
// document operation guarded by a unique index or a filter on the current state (version, status).
// The adapter uses no multi-document transactions: they need a replica set, the MongoDB-wire
// servers we test against (jongodb) do not provide them, and every operation below can be made
// race-free without one. Where a transaction would otherwise be the obvious tool, a comment says why
// it is not needed.
//
// Compare-and-set is done with updateOne (filter on the state the caller saw) and the result is
// computed from that state, not read back with findOneAndUpdate: jongodb's findOneAndUpdate does not
// apply its filter atomically under concurrent calls (two callers can both "win"; seen in
// test/contract/store.test.ts), while its updateOne does. On MongoDB both are atomic per document.
//
// The one place a transaction would be the natural tool is above this adapter: the pipeline's
// "update the change, append its transitions, record its jobs" spans three collections. The port
// deliberately offers no such call; each step is idempotent or guarded (the change's version, job
// idempotency keys, transitions appended after the change update wins), so a crash between steps is
// repaired by re-running the step, on SQLite and MongoDB alike.
import type { Collection, Db as MongoDb, Document } from 'mongodb';
import { StoreInputError } from '../port.ts';

export interface Mdb {
  db: MongoDb;
  now(): string;
  col<T extends Document = Document>(name: string): Collection<T>;
}

export function makeMdb(db: MongoDb, now: () => Date): Mdb {
  return { db, now: () => now().toISOString(), col: <T extends Document>(name: string) => db.collection<T>(name) };
}

/** E11000: a unique index had its one winner already. */
export function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: number } | null)?.code === 11000;
}

/** Timestamps are compared as text, so every stored one is normalised to toISOString's format. */
export function isoTime(value: string, field: string): string {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new StoreInputError(`${field}: "${value}" is not an ISO-8601 time`);
  return d.toISOString();
}

/** Drops Mongo's _id (and anything else not in the record) on the way out. */
export function without_id<T>(doc: Document): T {
  const { _id, ...rest } = doc;
  void _id;
  return rest as T;
}
