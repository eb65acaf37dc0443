import { randomUUID } from 'node:crypto';
import { GENESIS_HASH, sealEntry } from '../../audit/chain.ts';
import type { AuditStore, Json, Transition, TransitionInput } from '../port.ts';
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
const MAX_BATCH = 500;

interface PendingAppend {
  entry: TransitionInput;
  resolve: (t: Transition) => void;
  reject: (err: unknown) => void;
}

export function mongoAudit(m: Mdb): AuditStore {
  const col = m.col<TransitionDoc & { _id?: string }>('transitions');
  const head = async () => {
    const d = await col.find({}, { projection: { _id: 0 } }).sort({ seq: -1 }).limit(1).next();
    return d ? toTransition(d) : null;
  };
  // Appends made while a write is running are sealed together on the next one: one head read and one
  // ordered insertMany for the lot. Every write command on jongodb costs time in proportion to the
  // collection's size, so one per entry made a busy hub crawl; on MongoDB it saves round trips.
  const pending: PendingAppend[] = [];
  let writing = false;
  const flush = () => {
    if (writing || pending.length === 0) return;
    writing = true;
    void writeAll()
      .catch((err: unknown) => {
        for (const p of pending.splice(0)) p.reject(err);
      })
      .finally(() => {
        writing = false;
        flush();
      });
  };
  const writeAll = async () => {
    for (let attempt = 1; pending.length > 0; attempt++) {
      const batch = pending.slice(0, MAX_BATCH);
      // Optimistic append: read the head, seal the entries as head+1, head+2, ..., insert them in order.
      // The unique index on seq lets one process take each seq; a loser re-reads the head and seals
      // again what did not get in. So the chain never forks and no transaction is needed (a
      // transaction would not stop two processes reading the same head either; the index decides).
      const h = await head();
      let seq = h ? h.seq : 0;
      let prev = h ? h.hash : GENESIS_HASH;
      const sealed = batch.map((p) => {
        const t = sealEntry(++seq, prev, p.entry);
        prev = t.hash;
        return { _id: randomUUID(), t };
      });
      try {
        // Ordered: a refused entry stops the insert there, so what got in is a prefix and each entry
        // in it follows the one before (jongodb inserts all or none; MongoDB the entries before it).
        await col.insertMany(sealed.map(({ _id, t }) => ({ _id, ...t, before: JSON.stringify(t.before), after: JSON.stringify(t.after) })), { ordered: true });
        pending.splice(0, batch.length);
        batch.forEach((p, i) => p.resolve(sealed[i]!.t));
        attempt = 0;
        continue;
      } catch (err) {
        if (!isDuplicateKey(err) || attempt >= MAX_APPEND_ATTEMPTS) {
          pending.splice(0, batch.length);
          for (const p of batch) p.reject(err);
          attempt = 0;
          continue;
        }
      }
      const stored = new Set((await col.find({ _id: { $in: sealed.map((s) => s._id) } }, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
      let n = 0;
      while (n < sealed.length && stored.has(sealed[n]!._id)) n++;
      pending.splice(0, n);
      batch.slice(0, n).forEach((p, i) => p.resolve(sealed[i]!.t));
      // Back off a little, more the more we lose, so contending processes spread out.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(attempt, 20)));
    }
  };
  return {
    append(entry) {
      return new Promise<Transition>((resolve, reject) => {
        pending.push({ entry, resolve, reject });
        flush();
      });
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
