import type { Filter } from 'mongodb';
import { checkLimit, decodeCursor, encodeCursor, type DeliveryRecord, type DeliveryStatus, type DeliveryStore } from '../port.ts';
import { isDuplicateKey, isoTime, type Mdb } from './db.ts';

type NewDelivery = Omit<DeliveryRecord, 'status' | 'reason' | 'processedAt'>;
type DeliveryDoc = Omit<DeliveryRecord, 'id'> & { _id: string };
const toDelivery = ({ _id, ...rest }: DeliveryDoc): DeliveryRecord => ({ id: _id, ...rest });
const statuses: DeliveryStatus[] = ['received', 'processed', 'ignored', 'failed'];

export function mongoDeliveries(m: Mdb): DeliveryStore {
  const col = m.col<DeliveryDoc>('deliveries');
  const toDoc = (d: NewDelivery): DeliveryDoc => ({
    _id: d.id, connectionId: d.connectionId, dedupeKey: d.dedupeKey, event: d.event, receivedAt: isoTime(d.receivedAt, 'receivedAt'),
    headers: d.headers, body: d.body, status: 'received', reason: null, processedAt: null,
  });
  /** After a duplicate-key refusal: the stored delivery with that key. If it carries our id, the
   * insert did happen (a retried or partially applied batch), so it counts as inserted. */
  const settle = async (d: NewDelivery) => {
    const existing = await col.findOne({ connectionId: d.connectionId, dedupeKey: d.dedupeKey });
    if (!existing) throw new Error(`delivery ${d.id}: refused as a duplicate, but no delivery has its dedupe key`);
    return { inserted: existing._id === d.id, delivery: toDelivery(existing) };
  };
  const insertOne = async (d: NewDelivery) => {
    const doc = toDoc(d);
    try {
      await col.insertOne(doc);
      return { inserted: true, delivery: toDelivery(doc) };
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      return settle(d);
    }
  };
  return {
    insert: insertOne,
    async insertMany(ds) {
      if (ds.length === 0) return [];
      const docs = ds.map(toDoc);
      // Duplicates inside the batch: the first one wins, as if they had arrived one by one.
      const seen = new Set<string>();
      const firsts = docs.filter((d) => {
        const k = `${d.connectionId}\u0000${d.dedupeKey}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      });
      try {
        // One round trip. Not atomic without a transaction, and it need not be: each delivery is
        // independent and the unique dedupe index keeps a retry from storing anything twice.
        await col.insertMany(firsts, { ordered: false });
        const ours = new Set(firsts.map((d) => d._id));
        const out: { inserted: boolean; delivery: DeliveryRecord }[] = [];
        for (const d of ds) out.push(ours.has(d.id) ? { inserted: true, delivery: toDelivery(docs.find((x) => x._id === d.id)!) } : await settle(d));
        return out;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // Some were already stored. Servers differ in what an unordered batch with a duplicate leaves
        // behind (MongoDB inserts the others, jongodb none), so settle each one by itself.
        const out: { inserted: boolean; delivery: DeliveryRecord }[] = [];
        for (const d of ds) out.push(await insertOne(d));
        return out;
      }
    },
    async get(id) {
      const d = await col.findOne({ _id: id });
      return d ? toDelivery(d) : null;
    },
    async setStatus(id, status, reason = null) {
      await col.updateOne({ _id: id }, { $set: { status, reason, processedAt: status === 'received' ? null : m.now() } });
    },
    async list(filter, page) {
      const limit = checkLimit(page.limit);
      const q: Filter<DeliveryDoc> = {};
      if (filter.connectionId !== undefined) q.connectionId = filter.connectionId;
      if (filter.status !== undefined) q.status = filter.status;
      if (page.cursor) {
        const [receivedAt, id] = decodeCursor(page.cursor, 2) as [string, string];
        q.$or = [{ receivedAt: { $lt: receivedAt } }, { receivedAt, _id: { $lt: id } }];
      }
      const docs = await col.find(q).sort({ receivedAt: -1, _id: -1 }).limit(limit + 1).toArray();
      const items = docs.slice(0, limit).map(toDelivery);
      const last = items[items.length - 1];
      return { items, next: docs.length > limit && last ? encodeCursor([last.receivedAt, last.id]) : null };
    },
    async countByStatus() {
      const counts = Object.fromEntries(statuses.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
      const groups = await col.aggregate<{ _id: DeliveryStatus; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }]).toArray();
      for (const g of groups) counts[g._id] = g.n;
      return counts;
    },
  };
}
