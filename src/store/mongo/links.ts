import { StoreConflictError, type LinkRecord, type LinkStore } from '../port.ts';
import { isDuplicateKey, without_id, type Mdb } from './db.ts';

export function mongoLinks(m: Mdb): LinkStore {
  const col = m.col<LinkRecord>('links');
  return {
    async upsert(link) {
      const identity = { connectionId: link.connectionId, kind: link.kind, externalId: link.externalId };
      const set = { url: link.url, versionSeen: link.versionSeen, data: link.data, updatedAt: m.now() };
      // The filter includes changeId, so an identity owned by another change does not match, the
      // upsert tries to insert, and the unique identity index refuses it: that is the conflict.
      // Two first upserts of one identity for the same change also collide there; the loser retries
      // and then matches the winner's document.
      for (let attempt = 0; ; attempt++) {
        try {
          const d = await col.findOneAndUpdate({ ...identity, changeId: link.changeId }, { $set: set }, { upsert: true, returnDocument: 'after' });
          return without_id<LinkRecord>(d!);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          const owner = await col.findOne(identity);
          if ((owner && owner.changeId !== link.changeId) || attempt >= 2) {
            throw new StoreConflictError(`${link.connectionId} ${link.kind} ${link.externalId} is already linked to change ${owner?.changeId}, not ${link.changeId}`);
          }
        }
      }
    },
    async find(connectionId, kind, externalId) {
      const d = await col.findOne({ connectionId, kind, externalId });
      return d ? without_id<LinkRecord>(d) : null;
    },
    async listForChange(changeId) {
      const docs = await col.find({ changeId }).sort({ connectionId: 1, kind: 1, externalId: 1 }).toArray();
      return docs.map((d) => without_id<LinkRecord>(d));
    },
  };
}
