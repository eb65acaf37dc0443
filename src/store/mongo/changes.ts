import type { Document, Filter } from 'mongodb';
import { StoreConflictError, checkLimit, decodeCursor, encodeCursor, type ChangeRecord, type ChangeStore } from '../port.ts';
import { isDuplicateKey, isoTime, type Mdb } from './db.ts';

type ChangeDoc = Omit<ChangeRecord, 'id'> & { _id: string };
const toChange = ({ _id, ...rest }: ChangeDoc): ChangeRecord => ({ id: _id, ...rest });

export function mongoChanges(m: Mdb): ChangeStore {
  const col = m.col<ChangeDoc>('changes');
  return {
    async create(c) {
      const at = c.createdAt ? isoTime(c.createdAt, 'createdAt') : m.now();
      const doc: ChangeDoc = {
        _id: c.id, version: 1, state: c.state, tier: c.tier, team: c.team, environment: c.environment, type: c.type,
        createdAt: at, updatedAt: at, data: c.data,
      };
      try {
        await col.insertOne(doc);
      } catch (err) {
        if (isDuplicateKey(err)) throw new StoreConflictError(`change ${c.id} already exists`);
        throw err;
      }
      return toChange(doc);
    },
    async get(id) {
      const d = await col.findOne({ _id: id });
      return d ? toChange(d) : null;
    },
    async update(id, expectedVersion, patch) {
      // Every write bumps the version, so the document read at `expectedVersion` is exactly the
      // state the update applies to; the version in the filter is the optimistic lock (one document,
      // so atomic without a transaction).
      const seen = await col.findOne({ _id: id, version: expectedVersion });
      if (!seen) return null;
      const set: Document = { updatedAt: m.now() };
      for (const k of ['state', 'tier', 'team', 'environment', 'type', 'data'] as const) {
        if (patch[k] !== undefined) set[k] = patch[k];
      }
      const r = await col.updateOne({ _id: id, version: expectedVersion }, { $set: set, $inc: { version: 1 } });
      if (r.modifiedCount !== 1) return null;
      return toChange({ ...seen, ...set, version: expectedVersion + 1 } as ChangeDoc);
    },
    async list(filter, page) {
      const limit = checkLimit(page.limit);
      const q: Filter<ChangeDoc> = {};
      if (filter.state !== undefined) q.state = filter.state;
      if (filter.tier !== undefined) q.tier = filter.tier;
      if (filter.team !== undefined) q.team = filter.team;
      const and: Filter<ChangeDoc>[] = [];
      if (filter.since !== undefined) and.push({ updatedAt: { $gte: isoTime(filter.since, 'since') } });
      if (page.cursor) {
        const [updatedAt, id] = decodeCursor(page.cursor, 2) as [string, string];
        and.push({ $or: [{ updatedAt: { $lt: updatedAt } }, { updatedAt, _id: { $lt: id } }] });
      }
      if (and.length) q.$and = and;
      const docs = await col.find(q).sort({ updatedAt: -1, _id: -1 }).limit(limit + 1).toArray();
      const items = docs.slice(0, limit).map(toChange);
      const last = items[items.length - 1];
      return { items, next: docs.length > limit && last ? encodeCursor([last.updatedAt, last.id]) : null };
    },
  };
}
