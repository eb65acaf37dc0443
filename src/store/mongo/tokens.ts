import { StoreConflictError, type TokenRecord, type TokenStore } from '../port.ts';
import { isDuplicateKey, type Mdb } from './db.ts';

type TokenDoc = Omit<TokenRecord, 'id'> & { _id: string };
const toToken = ({ _id, ...rest }: TokenDoc): TokenRecord => ({ id: _id, ...rest });

export function mongoTokens(m: Mdb): TokenStore {
  const col = m.col<TokenDoc>('tokens');
  return {
    async create(t) {
      const doc: TokenDoc = { _id: t.id, name: t.name, hash: t.hash, roles: t.roles, actor: t.actor, createdAt: m.now(), revokedAt: null };
      try {
        await col.insertOne(doc);
      } catch (err) {
        if (isDuplicateKey(err)) throw new StoreConflictError(`token ${t.id} (or one with the same secret) already exists`);
        throw err;
      }
      return toToken(doc);
    },
    async findByHash(hash) {
      const d = await col.findOne({ hash });
      return d ? toToken(d) : null;
    },
    async revoke(idOrName) {
      const r = await col.updateMany({ $or: [{ _id: idOrName }, { name: idOrName }], revokedAt: null }, { $set: { revokedAt: m.now() } });
      return r.modifiedCount > 0;
    },
    async list() {
      return (await col.find({}).sort({ createdAt: 1, _id: 1 }).toArray()).map(toToken);
    },
  };
}
