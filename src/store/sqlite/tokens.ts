import type { Role, TokenRecord, TokenStore } from '../port.ts';
import { fromJson, insertOrConflict, str, strOrNull, toJson, type Db } from './db.ts';

const toToken = (r: Record<string, unknown>): TokenRecord => ({
  id: str(r.id), name: str(r.name), hash: str(r.hash), roles: fromJson<Role[]>(r.roles), actor: str(r.actor),
  createdAt: str(r.created_at), revokedAt: strOrNull(r.revoked_at),
});

export function sqliteTokens(db: Db): TokenStore {
  return {
    async create(t) {
      return db.write(() => {
        insertOrConflict(() => db.stmt('INSERT INTO tokens (id, name, hash, roles, actor, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, NULL)')
          .run(t.id, t.name, t.hash, toJson(t.roles), t.actor, db.now()), `token ${t.id} (or one with the same secret) already exists`);
        return toToken(db.stmt('SELECT * FROM tokens WHERE id = ?').get(t.id)!);
      });
    },
    async findByHash(hash) {
      const r = db.stmt('SELECT * FROM tokens WHERE hash = ?').get(hash);
      return r ? toToken(r) : null;
    },
    async revoke(idOrName) {
      const r = await db.write(() => db.stmt('UPDATE tokens SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL').run(db.now(), idOrName, idOrName));
      return Number(r.changes) > 0;
    },
    async list() {
      return db.stmt('SELECT * FROM tokens ORDER BY created_at, id').all().map(toToken);
    },
  };
}
