// Collections and indexes. createIndex is idempotent, so every start re-applies the list; the unique
// indexes are what make races have exactly one winner across hub processes.
import type { IndexDescription } from 'mongodb';
import { isDuplicateKey, type Mdb } from './db.ts';

const SCHEMA_VERSION = 1;
/** Claimed ticks are only needed while a schedule could still fire them; drop them after 30 days. */
const TICK_TTL_SECONDS = 30 * 24 * 3600;

const indexes: Record<string, IndexDescription[]> = {
  changes: [
    { key: { updatedAt: -1, _id: -1 }, name: 'updated' },
    { key: { state: 1, updatedAt: -1, _id: -1 }, name: 'state' },
    { key: { team: 1, updatedAt: -1, _id: -1 }, name: 'team' },
    { key: { tier: 1, updatedAt: -1, _id: -1 }, name: 'tier' },
  ],
  links: [
    { key: { connectionId: 1, kind: 1, externalId: 1 }, name: 'identity', unique: true },
    { key: { changeId: 1 }, name: 'change' },
  ],
  deliveries: [
    { key: { connectionId: 1, dedupeKey: 1 }, name: 'dedupe', unique: true },
    { key: { receivedAt: -1, _id: -1 }, name: 'received' },
    { key: { status: 1, receivedAt: -1, _id: -1 }, name: 'status' },
  ],
  jobs: [{ key: { changeId: 1, createdAt: 1 }, name: 'change' }],
  conflicts: [
    { key: { createdAt: -1, _id: -1 }, name: 'created' },
    { key: { changeId: 1, createdAt: -1, _id: -1 }, name: 'change' },
  ],
  transitions: [
    { key: { seq: 1 }, name: 'seq', unique: true },
    { key: { changeId: 1, seq: 1 }, name: 'change' },
  ],
  tokens: [
    { key: { hash: 1 }, name: 'hash', unique: true },
    { key: { name: 1 }, name: 'name' },
  ],
  cursors: [{ key: { connectionId: 1, name: 1 }, name: 'identity', unique: true }],
  ticks: [
    { key: { schedule: 1, tick: 1 }, name: 'tick', unique: true },
    { key: { claimedAt: 1 }, name: 'ttl', expireAfterSeconds: TICK_TTL_SECONDS },
  ],
};

export async function migrate(m: Mdb): Promise<void> {
  for (const [name, list] of Object.entries(indexes)) {
    await m.col(name).createIndexes(list);
  }
  // Records the schema version; never lowers it (an older hub starting next to a newer one).
  // A filtered upsert instead of $max, which jongodb does not implement.
  try {
    await m.col<{ _id: string; version: number; at: string }>('migrations')
      .updateOne({ _id: 'schema', version: { $lt: SCHEMA_VERSION } }, { $set: { version: SCHEMA_VERSION, at: m.now() } }, { upsert: true });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err; // already at this version or newer
  }
}
