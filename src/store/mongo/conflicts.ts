import type { Filter } from 'mongodb';
import { StoreConflictError, checkLimit, decodeCursor, encodeCursor, type ConflictRecord, type ConflictStore } from '../port.ts';
import { isDuplicateKey, type Mdb } from './db.ts';

type ConflictDoc = Omit<ConflictRecord, 'id'> & { _id: string };
const toConflict = ({ _id, ...rest }: ConflictDoc): ConflictRecord => ({ id: _id, ...rest });

export function mongoConflicts(m: Mdb): ConflictStore {
  const col = m.col<ConflictDoc>('conflicts');
  return {
    async create(c) {
      const doc: ConflictDoc = { _id: c.id, changeId: c.changeId, kind: c.kind, status: 'open', versions: c.versions, resolution: null, createdAt: m.now(), resolvedAt: null };
      try {
        await col.insertOne(doc);
      } catch (err) {
        if (isDuplicateKey(err)) throw new StoreConflictError(`conflict ${c.id} already exists`);
        throw err;
      }
      return toConflict(doc);
    },
    async get(id) {
      const d = await col.findOne({ _id: id });
      return d ? toConflict(d) : null;
    },
    async list(filter, page) {
      const limit = checkLimit(page.limit);
      const q: Filter<ConflictDoc> = {};
      if (filter.status !== undefined) q.status = filter.status;
      if (filter.changeId !== undefined) q.changeId = filter.changeId;
      if (page.cursor) {
        const [createdAt, id] = decodeCursor(page.cursor, 2) as [string, string];
        q.$or = [{ createdAt: { $lt: createdAt } }, { createdAt, _id: { $lt: id } }];
      }
      const docs = await col.find(q).sort({ createdAt: -1, _id: -1 }).limit(limit + 1).toArray();
      const items = docs.slice(0, limit).map(toConflict);
      const last = items[items.length - 1];
      return { items, next: docs.length > limit && last ? encodeCursor([last.createdAt, last.id]) : null };
    },
    async resolve(id, resolution) {
      const seen = await col.findOne({ _id: id, status: 'open' });
      if (!seen) return null;
      // open -> resolved happens once, and nothing else changes an open conflict, so the state read
      // plus this update is the resolved record.
      const set = { status: 'resolved' as const, resolution, resolvedAt: m.now() };
      const r = await col.updateOne({ _id: id, status: 'open' }, { $set: set });
      return r.modifiedCount === 1 ? toConflict({ ...seen, ...set }) : null;
    },
  };
}
