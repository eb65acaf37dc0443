import type { Filter } from 'mongodb';
import { checkLimit, decodeCursor, encodeCursor, type DeliveryRecord, type DeliveryStatus, type DeliveryStore } from '../port.ts';
import { isDuplicateKey, isoTime, type Mdb } from './db.ts';

type NewDelivery = Omit<DeliveryRecord, 'status' | 'reason' | 'processedAt'>;
type DeliveryDoc = Omit<DeliveryRecord, 'id'> & { _id: string };
const toDelivery = ({ _id, ...rest }: DeliveryDoc): DeliveryRecord => ({ id: _id, ...rest });
const statuses: DeliveryStatus[] = ['received', 'processed', 'ignored', 'failed'];

interface StatusChange {
  id: string;
  status: DeliveryStatus;
  reason: string | null;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A delivery's identity as the unique dedupe index sees it. */
const keyOf = (d: { connectionId: string; dedupeKey: string }) => `${d.connectionId}\u0000${d.dedupeKey}`;

const MAX_STATUS_BATCH = 500;
/** Longest wait for more status changes to join a write. */
const MAX_STATUS_WAIT_MS = 25;

/** The next batch of status changes, in call order. A delivery named twice ends the batch before its
 * second change, so the later status is written by a later command and wins, as it would one by one. */
function takeStatusBatch(pending: StatusChange[]): StatusChange[] {
  const ids = new Set<string>();
  let n = 0;
  while (n < pending.length && n < MAX_STATUS_BATCH && !ids.has(pending[n]!.id)) ids.add(pending[n++]!.id);
  return pending.splice(0, n);
}

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
  /** The stored deliveries with these (connection, dedupe key) pairs, in one query. */
  const findByKeys = async (ds: { connectionId: string; dedupeKey: string }[]) => {
    const wanted = new Set(ds.map(keyOf));
    const found = await col
      .find({ connectionId: { $in: [...new Set(ds.map((d) => d.connectionId))] }, dedupeKey: { $in: [...new Set(ds.map((d) => d.dedupeKey))] } })
      .toArray();
    return found.filter((d) => wanted.has(keyOf(d)));
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
  // Status changes of concurrent jobs share one write: a call made while a write is running waits for
  // the next one, which then carries every call made meanwhile (one updateMany per status and reason).
  // A write command on jongodb costs time in proportion to the documents in the collection, so one per
  // processed delivery made draining a burst quadratic; on MongoDB it saves round trips. Each call
  // still resolves only once its own status is stored.
  const pendingStatus: StatusChange[] = [];
  let writingStatus = false;
  const writeStatusBatch = async (batch: StatusChange[]) => {
    const processedAt = m.now();
    const groups = new Map<string, StatusChange[]>();
    for (const c of batch) {
      const k = JSON.stringify([c.status, c.reason]);
      const g = groups.get(k);
      if (g) g.push(c);
      else groups.set(k, [c]);
    }
    await Promise.all(
      [...groups.values()].map(async (g) => {
        const { status, reason } = g[0]!;
        try {
          await col.updateMany({ _id: { $in: g.map((c) => c.id) } }, { $set: { status, reason, processedAt: status === 'received' ? null : processedAt } });
          for (const c of g) c.resolve();
        } catch (err) {
          for (const c of g) c.reject(err);
        }
      }),
    );
  };
  // How long a status write took lately. Writes that take long (jongodb with a big collection; a busy
  // server) wait a fraction of that for more calls to join, the group-commit rule: the jobs that
  // waited behind the last write reach their own status change a few milliseconds after it ends, and
  // without the wait each would start a write of its own. Cheap writes (MongoDB) wait next to nothing.
  let statusWriteMs = 0;
  const flushStatus = () => {
    if (writingStatus || pendingStatus.length === 0) return;
    writingStatus = true;
    const write = () => {
      const batch = takeStatusBatch(pendingStatus);
      const started = performance.now();
      void writeStatusBatch(batch)
        .catch((err: unknown) => {
          for (const c of batch) c.reject(err);
        })
        .finally(() => {
          statusWriteMs = 0.7 * statusWriteMs + 0.3 * (performance.now() - started);
          writingStatus = false;
          flushStatus();
        });
    };
    const wait = Math.min(MAX_STATUS_WAIT_MS, statusWriteMs / 4);
    if (wait >= 1) setTimeout(write, wait);
    else write();
  };
  return {
    insert: insertOne,
    async insertMany(ds) {
      if (ds.length === 0) return [];
      // Duplicates inside the batch: the first one wins, as if they had arrived one by one.
      const firsts = new Map<string, DeliveryDoc>();
      for (const d of ds) if (!firsts.has(keyOf(d))) firsts.set(keyOf(d), toDoc(d));
      const stored = new Map<string, DeliveryDoc>();
      let toInsert = [...firsts.values()];
      for (let attempt = 1; toInsert.length > 0; attempt++) {
        try {
          // One write for the whole batch. Not atomic without a transaction, and it need not be: each
          // delivery is independent and the unique dedupe index keeps a retry from storing anything twice.
          await col.insertMany(toInsert, { ordered: false });
          for (const d of toInsert) stored.set(keyOf(d), d);
          break;
        } catch (err) {
          if (!isDuplicateKey(err) || attempt >= 5) throw err;
        }
        // Some were stored already (senders retry what they saw no answer for). Servers differ in what
        // an unordered batch with a duplicate leaves behind (MongoDB inserts the others, jongodb none),
        // so one read says which keys are taken now, and the rest go again in one write: a write per
        // delivery costs jongodb the whole collection each time and made a burst of retries collapse.
        for (const d of await findByKeys(toInsert)) stored.set(keyOf(d), d);
        toInsert = toInsert.filter((d) => !stored.has(keyOf(d)));
      }
      return ds.map((d) => {
        const existing = stored.get(keyOf(d));
        if (!existing) throw new Error(`delivery ${d.id}: refused as a duplicate, but no delivery has its dedupe key`);
        // Our id on the stored delivery: the insert did happen (a retried or partially applied batch).
        return { inserted: existing._id === d.id, delivery: toDelivery(existing) };
      });
    },
    async get(id) {
      const d = await col.findOne({ _id: id });
      return d ? toDelivery(d) : null;
    },
    async idsByDedupeKey(connectionId, dedupeKeys) {
      const ids = new Map<string, string>();
      if (dedupeKeys.length === 0) return ids;
      const docs = col.find({ connectionId, dedupeKey: { $in: [...new Set(dedupeKeys)] } }, { projection: { _id: 1, dedupeKey: 1 } });
      for await (const d of docs) ids.set(d.dedupeKey, d._id);
      return ids;
    },
    setStatus(id, status, reason = null) {
      return new Promise<void>((resolve, reject) => {
        pendingStatus.push({ id, status, reason, resolve, reject });
        flushStatus();
      });
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
