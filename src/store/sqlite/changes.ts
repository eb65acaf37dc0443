import { checkLimit, decodeCursor, encodeCursor, type ChangeFilter, type ChangePatch, type ChangeRecord, type ChangeStore, type NewChange } from '../port.ts';
import { fromJson, insertOrConflict, isoTime, str, strOrNull, toJson, type Db } from './db.ts';
import type { SQLInputValue } from 'node:sqlite';

const toChange = (r: Record<string, unknown>): ChangeRecord => ({
  id: str(r.id), version: Number(r.version), state: str(r.state), tier: strOrNull(r.tier), team: strOrNull(r.team),
  environment: strOrNull(r.environment), type: strOrNull(r.type), createdAt: str(r.created_at), updatedAt: str(r.updated_at),
  data: fromJson(r.data),
});

const patchColumns = { state: 'state', tier: 'tier', team: 'team', environment: 'environment', type: 'type', data: 'data' } as const;

export function sqliteChanges(db: Db): ChangeStore {
  const getStmt = db.stmt('SELECT * FROM changes WHERE id = ?');
  const get = (id: string) => {
    const r = getStmt.get(id);
    return r ? toChange(r) : null;
  };
  return {
    async create(c: NewChange) {
      const at = c.createdAt ? isoTime(c.createdAt, 'createdAt') : db.now();
      const data = toJson(c.data);
      return db.write(() => {
        const r = insertOrConflict(() => db.stmt(
          'INSERT INTO changes (id, version, state, tier, team, environment, type, created_at, updated_at, data) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *',
        ).get(c.id, c.state, c.tier, c.team, c.environment, c.type, at, at, data), `change ${c.id} already exists`);
        return toChange(r!);
      });
    },
    async get(id) {
      return get(id);
    },
    async update(id: string, expectedVersion: number, patch: ChangePatch) {
      const sets: string[] = ['version = version + 1', 'updated_at = ?'];
      const args: SQLInputValue[] = [db.now()];
      for (const [key, column] of Object.entries(patchColumns)) {
        const v = patch[key as keyof ChangePatch];
        if (v === undefined) continue;
        sets.push(`${column} = ?`);
        args.push(key === 'data' ? toJson(v as ChangeRecord['data']) : (v as string | null));
      }
      // The version in the WHERE clause is the optimistic lock: a concurrent writer that got there
      // first bumped it, so this matches no row and the caller re-reads.
      const text = `UPDATE changes SET ${sets.join(', ')} WHERE id = ? AND version = ? RETURNING *`;
      const r = await db.write(() => db.stmt(text).get(...args, id, expectedVersion));
      return r ? toChange(r) : null;
    },
    async list(filter: ChangeFilter, page) {
      const limit = checkLimit(page.limit);
      const where: string[] = [];
      const args: SQLInputValue[] = [];
      if (filter.state !== undefined) { where.push('state = ?'); args.push(filter.state); }
      if (filter.tier !== undefined) { where.push('tier = ?'); args.push(filter.tier); }
      if (filter.team !== undefined) { where.push('team = ?'); args.push(filter.team); }
      if (filter.since !== undefined) { where.push('updated_at >= ?'); args.push(isoTime(filter.since, 'since')); }
      if (page.cursor) {
        const [updatedAt, id] = decodeCursor(page.cursor, 2) as [string, string];
        where.push('(updated_at < ? OR (updated_at = ? AND id < ?))');
        args.push(updatedAt, updatedAt, id);
      }
      const rows = db.stmt(
        `SELECT * FROM changes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY updated_at DESC, id DESC LIMIT ?`,
      ).all(...args, limit + 1);
      const items = rows.slice(0, limit).map(toChange);
      const last = items[items.length - 1];
      return { items, next: rows.length > limit && last ? encodeCursor([last.updatedAt, last.id]) : null };
    },
  };
}
