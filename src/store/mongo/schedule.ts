// Reconciliation cursors and schedule ticks: the small records several hub processes coordinate on.
import type { CursorStore, TickStore } from '../port.ts';
import { isDuplicateKey, type Mdb } from './db.ts';

export function mongoCursors(m: Mdb): CursorStore {
  const col = m.col<{ connectionId: string; name: string; value: string; updatedAt: string }>('cursors');
  return {
    async get(connectionId, name) {
      return (await col.findOne({ connectionId, name }))?.value ?? null;
    },
    async set(connectionId, name, value) {
      const write = () => col.updateOne({ connectionId, name }, { $set: { value, updatedAt: m.now() } }, { upsert: true });
      // Two first upserts of one cursor can both insert; the unique index refuses one, which then updates.
      try {
        await write();
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        await write();
      }
    },
  };
}

export function mongoTicks(m: Mdb): TickStore {
  const col = m.col<{ schedule: string; tick: string; owner: string; claimedAt: Date }>('ticks');
  return {
    async claim(schedule, tick, owner) {
      // Insert-or-fail on the unique (schedule, tick) index: exactly one process's insert succeeds.
      // claimedAt is a Date so the TTL index can expire old ticks.
      try {
        await col.insertOne({ schedule, tick, owner, claimedAt: new Date(m.now()) });
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    },
  };
}
