// Reconciliation cursors and schedule ticks: the small records several hub processes coordinate on.
import type { CursorStore, TickStore } from '../port.ts';
import { str, type Db } from './db.ts';

export function sqliteCursors(db: Db): CursorStore {
  return {
    async get(connectionId, name) {
      const r = db.stmt('SELECT value FROM cursors WHERE connection_id = ? AND name = ?').get(connectionId, name);
      return r ? str(r.value) : null;
    },
    async set(connectionId, name, value) {
      await db.write(() => db.stmt(`INSERT INTO cursors (connection_id, name, value, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (connection_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`)
        .run(connectionId, name, value, db.now()));
    },
  };
}

export function sqliteTicks(db: Db): TickStore {
  return {
    async claim(schedule, tick, owner) {
      // The primary key (schedule, tick) lets exactly one insert through, whichever process runs it.
      const r = await db.write(() => db.stmt('INSERT INTO ticks (schedule, tick, owner, claimed_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
        .run(schedule, tick, owner, db.now()));
      return Number(r.changes) === 1;
    },
  };
}
