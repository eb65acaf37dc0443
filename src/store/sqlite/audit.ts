import { sealEntry } from '../../audit/chain.ts';
import type { AuditStore, Json, Transition } from '../port.ts';
import { fromJson, str, strOrNull, toJson, type Db } from './db.ts';

const toTransition = (r: Record<string, unknown>): Transition => ({
  seq: Number(r.seq), changeId: strOrNull(r.change_id), action: str(r.action), actor: str(r.actor),
  sourceTool: str(r.source_tool), at: str(r.at), before: fromJson<Json>(r.before), after: fromJson<Json>(r.after),
  rationale: strOrNull(r.rationale), correlation: strOrNull(r.correlation), prevHash: str(r.prev_hash), hash: str(r.hash),
});

const columns = 'seq, change_id, action, actor, source_tool, at, before, after, rationale, correlation, prev_hash, hash';
const fromArray = (r: unknown[]): Transition => ({
  seq: Number(r[0]), changeId: strOrNull(r[1]), action: str(r[2]), actor: str(r[3]), sourceTool: str(r[4]), at: str(r[5]),
  before: fromJson<Json>(r[6]), after: fromJson<Json>(r[7]), rationale: strOrNull(r[8]), correlation: strOrNull(r[9]),
  prevHash: str(r[10]), hash: str(r[11]),
});

/** Rows per read while scanning: big enough that verify is bound by hashing, small enough to stream. */
const SCAN_BATCH = 5000;

export function sqliteAudit(db: Db): AuditStore {
  const headStmt = db.stmt('SELECT * FROM transitions ORDER BY seq DESC LIMIT 1');
  // What the next entry chains to: the two columns, not the entry's JSON (read on every append).
  const chainHeadStmt = db.stmt('SELECT seq, hash FROM transitions ORDER BY seq DESC LIMIT 1');
  const insertStmt = db.stmt(`INSERT INTO transitions
    (seq, change_id, action, actor, source_tool, at, before, after, rationale, correlation, prev_hash, hash)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  // Rows as arrays, in the order of `columns`: about twice as fast to read as row objects, which
  // matters when verify streams a million entries.
  const batchStmt = db.stmt(`SELECT ${columns} FROM transitions WHERE seq > ? ORDER BY seq LIMIT ?`);
  batchStmt.setReturnArrays(true);
  return {
    async append(entry) {
      // BEGIN IMMEDIATE holds the file's write lock from reading the head to inserting the next entry,
      // so two processes cannot both take seq n+1 (the primary key would refuse the second anyway).
      return db.write(() => {
        const head = chainHeadStmt.get();
        const t = sealEntry(head ? Number(head.seq) + 1 : 1, head ? str(head.hash) : '0'.repeat(64), entry);
        insertStmt.run(t.seq, t.changeId, t.action, t.actor, t.sourceTool, t.at, toJson(t.before), toJson(t.after), t.rationale, t.correlation, t.prevHash, t.hash);
        return t;
      });
    },
    async *scan(afterSeq = 0) {
      let after = afterSeq;
      for (;;) {
        const rows = batchStmt.all(after, SCAN_BATCH) as unknown as unknown[][];
        for (const r of rows) yield fromArray(r);
        if (rows.length < SCAN_BATCH) return;
        after = Number(rows[rows.length - 1]![0]);
      }
    },
    async listForChange(changeId) {
      return db.stmt('SELECT * FROM transitions WHERE change_id = ? ORDER BY seq').all(changeId).map(toTransition);
    },
    async head() {
      const r = headStmt.get();
      return r ? toTransition(r) : null;
    },
  };
}
