import { StoreConflictError, type LinkRecord, type LinkStore } from '../port.ts';
import { fromJson, str, strOrNull, toJson, type Db } from './db.ts';

const toLink = (r: Record<string, unknown>): LinkRecord => ({
  changeId: str(r.change_id), connectionId: str(r.connection_id), kind: str(r.kind), externalId: str(r.external_id),
  url: strOrNull(r.url), versionSeen: strOrNull(r.version_seen), data: fromJson(r.data), updatedAt: str(r.updated_at),
});

export function sqliteLinks(db: Db): LinkStore {
  return {
    async upsert(link) {
      // The DO UPDATE only fires for the same change, so a link owned by another change is left as it
      // is and RETURNING yields nothing: that is the conflict.
      const r = await db.write(() => db.stmt(`
        INSERT INTO links (connection_id, kind, external_id, change_id, url, version_seen, data, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (connection_id, kind, external_id) DO UPDATE SET
          url = excluded.url, version_seen = excluded.version_seen, data = excluded.data, updated_at = excluded.updated_at
        WHERE links.change_id = excluded.change_id
        RETURNING *`).get(link.connectionId, link.kind, link.externalId, link.changeId, link.url, link.versionSeen, toJson(link.data), db.now()));
      if (!r) {
        const owner = db.stmt('SELECT change_id FROM links WHERE connection_id = ? AND kind = ? AND external_id = ?').get(link.connectionId, link.kind, link.externalId);
        throw new StoreConflictError(`${link.connectionId} ${link.kind} ${link.externalId} is already linked to change ${str(owner?.change_id)}, not ${link.changeId}`);
      }
      return toLink(r);
    },
    async find(connectionId, kind, externalId) {
      const r = db.stmt('SELECT * FROM links WHERE connection_id = ? AND kind = ? AND external_id = ?').get(connectionId, kind, externalId);
      return r ? toLink(r) : null;
    },
    async listForChange(changeId) {
      return db.stmt('SELECT * FROM links WHERE change_id = ? ORDER BY connection_id, kind, external_id').all(changeId).map(toLink);
    },
  };
}
