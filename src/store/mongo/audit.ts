import { GENESIS_HASH, sealEntry } from '../../audit/chain.ts';
import type { AuditStore, Json, Transition } from '../port.ts';
import { isDuplicateKey, type Mdb } from './db.ts';

// before/after are kept as JSON text: BSON would not give back every JSON value byte for byte
// (keys with "." or "$", -0, integer vs double), and the hash covers their canonical form.
type TransitionDoc = Omit<Transition, 'before' | 'after'> & { before: string; after: string };
const toTransition = (d: TransitionDoc): Transition => ({
  seq: d.seq, changeId: d.changeId, action: d.action, actor: d.actor, sourceTool: d.sourceTool, at: d.at,
  before: JSON.parse(d.before) as Json, after: JSON.parse(d.after) as Json, rationale: d.rationale, correlation: d.correlation,
  prevHash: d.prevHash, hash: d.hash,
});

const SCAN_BATCH = 5000;
const MAX_APPEND_ATTEMPTS = 200;

export function mongoAudit(m: Mdb): AuditStore {
  const col = m.col<TransitionDoc>('transitions');
  const head = async () => {
    const d = await col.find({}, { projection: { _id: 0 } }).sort({ seq: -1 }).limit(1).next();
    return d ? toTransition(d) : null;
  };
  return {
    async append(entry) {
      // Optimistic append: read the head, seal entry head+1, insert. The unique index on seq lets one
      // process take each seq; a loser re-reads the head and tries again. So the chain never forks
      // and no transaction is needed (a transaction would not stop two processes reading the same
      // head either; the unique index is what decides).
      for (let attempt = 1; ; attempt++) {
        const h = await head();
        const t = sealEntry(h ? h.seq + 1 : 1, h ? h.hash : GENESIS_HASH, entry);
        try {
          await col.insertOne({ ...t, before: JSON.stringify(t.before), after: JSON.stringify(t.after) });
          return t;
        } catch (err) {
          if (!isDuplicateKey(err) || attempt >= MAX_APPEND_ATTEMPTS) throw err;
          // Back off a little, more the more we lose, so contending processes spread out.
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(attempt, 20)));
        }
      }
    },
    async *scan(afterSeq = 0) {
      const cursor = col.find({ seq: { $gt: afterSeq } }, { projection: { _id: 0 } }).sort({ seq: 1 }).batchSize(SCAN_BATCH);
      try {
        for await (const d of cursor) yield toTransition(d);
      } finally {
        await cursor.close();
      }
    },
    async listForChange(changeId) {
      return (await col.find({ changeId }, { projection: { _id: 0 } }).sort({ seq: 1 }).toArray()).map(toTransition);
    },
    head,
  };
}
