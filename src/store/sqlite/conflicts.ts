import { checkLimit, decodeCursor, encodeCursor, type ConflictRecord, type ConflictStatus, type ConflictStore } from '../port.ts';
import { fromJson, insertOrConflict, maybeJson, str, strOrNull, toJson, type Db } from './db.ts';
import type { JsonObject } from '../port.ts';
import type { SQLInputValue } from 'node:sqlite';

const toConflict = (r: Record<string, unknown>): ConflictRecord => ({
  id: str(r.id), changeId: str(r.change_id), kind: str(r.kind), status: str(r.status) as ConflictStatus,
  versions: fromJson<JsonObject[]>(r.versions), resolution: maybeJson(r.resolution), createdAt: str(r.created_at),
  resolvedAt: strOrNull(r.resolved_at),
});

export function sqliteConflicts(db: Db): ConflictStore {
  const get = (id: string) => {
    const r = db.stmt('SELECT * FROM conflicts WHERE id = ?').get(id);
    return r ? toConflict(r) : null;
  };
  return {
    async create(c) {
      return db.write(() => {
        insertOrConflict(() => db.stmt(`INSERT INTO conflicts (id, change_id, kind, status, versions, resolution, created_at, resolved_at)
          VALUES (?, ?, ?, 'open', ?, NULL, ?, NULL)`).run(c.id, c.changeId, c.kind, toJson(c.versions), db.now()), `conflict ${c.id} already exists`);
        return get(c.id)!;
      });
    },
    async get(id) {
      return get(id);
    },
    async list(filter, page) {
      const limit = checkLimit(page.limit);
      const where: string[] = [];
      const args: SQLInputValue[] = [];
      if (filter.status !== undefined) { where.push('status = ?'); args.push(filter.status); }
      if (filter.changeId !== undefined) { where.push('change_id = ?'); args.push(filter.changeId); }
      if (page.cursor) {
        const [createdAt, id] = decodeCursor(page.cursor, 2) as [string, string];
        where.push('(created_at < ? OR (created_at = ? AND id < ?))');
        args.push(createdAt, createdAt, id);
      }
      const rows = db.stmt(
        `SELECT * FROM conflicts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`,
      ).all(...args, limit + 1);
      const items = rows.slice(0, limit).map(toConflict);
      const last = items[items.length - 1];
      return { items, next: rows.length > limit && last ? encodeCursor([last.createdAt, last.id]) : null };
    },
    async resolve(id, resolution) {
      const r = await db.write(() => db.stmt(`UPDATE conflicts SET status = 'resolved', resolution = ?, resolved_at = ?
        WHERE id = ? AND status = 'open' RETURNING *`).get(toJson(resolution), db.now(), id));
      return r ? toConflict(r) : null;
    },
  };
}
