import { checkLimit, decodeCursor, encodeCursor, type DeliveryRecord, type DeliveryStatus, type DeliveryStore } from '../port.ts';
import { fromJson, isoTime, str, strOrNull, toJson, type Db } from './db.ts';
import type { SQLInputValue } from 'node:sqlite';

type NewDelivery = Omit<DeliveryRecord, 'status' | 'reason' | 'processedAt'>;

const toDelivery = (r: Record<string, unknown>): DeliveryRecord => ({
  id: str(r.id), connectionId: str(r.connection_id), dedupeKey: str(r.dedupe_key), event: strOrNull(r.event),
  receivedAt: str(r.received_at), headers: fromJson<Record<string, string>>(r.headers), body: str(r.body),
  status: str(r.status) as DeliveryStatus, reason: strOrNull(r.reason), processedAt: strOrNull(r.processed_at),
});

const statuses: DeliveryStatus[] = ['received', 'processed', 'ignored', 'failed'];
/** Bound parameters per lookup query (SQLite allows 32 766). */
const maxKeysPerQuery = 256;

export function sqliteDeliveries(db: Db): DeliveryStore {
  const insertStmt = db.stmt(`
    INSERT INTO deliveries (id, connection_id, dedupe_key, event, received_at, headers, body, status, reason, processed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, 'received', NULL, NULL)
    ON CONFLICT (connection_id, dedupe_key) DO NOTHING`);
  const byKey = db.stmt('SELECT * FROM deliveries WHERE connection_id = ? AND dedupe_key = ?');
  const insertOne = (d: NewDelivery) => {
    const receivedAt = isoTime(d.receivedAt, 'receivedAt');
    const r = insertStmt.run(d.id, d.connectionId, d.dedupeKey, d.event, receivedAt, toJson(d.headers), d.body);
    // Inserted: the row is what was given (read back only for a duplicate, whose row is another's).
    if (Number(r.changes) === 1) return { inserted: true, delivery: { ...d, receivedAt, status: 'received' as const, reason: null, processedAt: null } };
    return { inserted: false, delivery: toDelivery(byKey.get(d.connectionId, d.dedupeKey)!) };
  };
  return {
    async insert(d) {
      return db.write(() => insertOne(d), { durable: true });
    },
    async insertMany(ds) {
      // One transaction, so one fsync for the whole batch; durable because the sender is answered after it.
      return db.write(() => ds.map(insertOne), { durable: true });
    },
    async get(id) {
      const r = db.stmt('SELECT * FROM deliveries WHERE id = ?').get(id);
      return r ? toDelivery(r) : null;
    },
    async idsByDedupeKey(connectionId, dedupeKeys) {
      const ids = new Map<string, string>();
      if (dedupeKeys.length === 0) return ids;
      // Keys are bound as they are (any text, a NUL included); the list is padded to a power of two by
      // repeating a key, so a few prepared statements serve every batch size.
      for (let at = 0; at < dedupeKeys.length; at += maxKeysPerQuery) {
        const keys = dedupeKeys.slice(at, at + maxKeysPerQuery);
        let size = 1;
        while (size < keys.length) size *= 2;
        while (keys.length < size) keys.push(keys[0]!);
        const rows = db.stmt(`SELECT dedupe_key, id FROM deliveries WHERE connection_id = ? AND dedupe_key IN (${'?,'.repeat(size - 1)}?)`).all(connectionId, ...keys);
        for (const r of rows) ids.set(str(r.dedupe_key), str(r.id));
      }
      return ids;
    },
    async setStatus(id, status, reason = null) {
      await db.write(() => db.stmt('UPDATE deliveries SET status = ?, reason = ?, processed_at = ? WHERE id = ?')
        .run(status, reason, status === 'received' ? null : db.now(), id));
    },
    async list(filter, page) {
      const limit = checkLimit(page.limit);
      const where: string[] = [];
      const args: SQLInputValue[] = [];
      if (filter.connectionId !== undefined) { where.push('connection_id = ?'); args.push(filter.connectionId); }
      if (filter.status !== undefined) { where.push('status = ?'); args.push(filter.status); }
      if (page.cursor) {
        const [receivedAt, id] = decodeCursor(page.cursor, 2) as [string, string];
        where.push('(received_at < ? OR (received_at = ? AND id < ?))');
        args.push(receivedAt, receivedAt, id);
      }
      const rows = db.stmt(
        `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at DESC, id DESC LIMIT ?`,
      ).all(...args, limit + 1);
      const items = rows.slice(0, limit).map(toDelivery);
      const last = items[items.length - 1];
      return { items, next: rows.length > limit && last ? encodeCursor([last.receivedAt, last.id]) : null };
    },
    async countByStatus() {
      const counts = Object.fromEntries(statuses.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
      for (const r of db.stmt('SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status').all()) {
        counts[str(r.status) as DeliveryStatus] = Number(r.n);
      }
      return counts;
    },
  };
}
