// Tamper evidence, per adapter: append a chain through the store, then change the stored data the way
// someone with direct access could (SQLite: open the file, drop the append-only triggers; MongoDB: raw
// collection operations) and check that verify names the kind of change and the first bad seq.
// Also: two OS processes appending to one store never fork the chain.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MongoClient } from 'mongodb';
import { describe, test } from 'node:test';
import { GENESIS_HASH, sealEntry, verifyChain, type VerifyReport } from '../../src/audit/chain.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store, Transition, TransitionInput } from '../../src/store/port.ts';
import { storeTargets, targetKind, type StoreTarget } from '../support/mongo.ts';

const N = 30;
const entry = (i: number): TransitionInput => ({
  changeId: `CHG-${100 + (i % 4)}`, action: i % 3 ? 'decision' : 'state', actor: i % 2 ? 'alice@example.com' : 'bob@example.com',
  sourceTool: i % 5 ? 'hub' : 'servicenow', at: new Date(Date.UTC(2026, 10, 24, 9, 0, i)).toISOString(),
  before: { state: 'pending-approval' }, after: { state: 'approved', step: i, approvers: ['alice', 'bob'] },
  rationale: i % 7 ? null : 'emergency: customer-facing outage', correlation: `dlv-${i}`,
});

/** What an attacker with raw access to the stored entries can do. */
interface Attacker {
  read(seq: number): Promise<Transition>;
  remove(seq: number): Promise<void>;
  /** Overwrites the stored entry at `seq` with `t` (t.seq may differ: that moves it). */
  overwrite(seq: number, t: Transition): Promise<void>;
  insert(t: Transition): Promise<void>;
  close(): Promise<void>;
}

function sqliteAttacker(url: string): Attacker {
  const db = new DatabaseSync(url.slice('sqlite:'.length));
  db.exec('PRAGMA busy_timeout = 5000');
  // The triggers only stop honest SQL; someone with the file drops them first.
  db.exec('DROP TRIGGER IF EXISTS transitions_no_update; DROP TRIGGER IF EXISTS transitions_no_delete;');
  const row = (t: Transition) => [t.seq, t.changeId, t.action, t.actor, t.sourceTool, t.at, JSON.stringify(t.before), JSON.stringify(t.after), t.rationale, t.correlation, t.prevHash, t.hash] as const;
  return {
    async read(seq) {
      const r = db.prepare('SELECT * FROM transitions WHERE seq = ?').get(seq)!;
      return {
        seq: Number(r.seq), changeId: r.change_id as string | null, action: String(r.action), actor: String(r.actor), sourceTool: String(r.source_tool),
        at: String(r.at), before: JSON.parse(String(r.before)), after: JSON.parse(String(r.after)), rationale: r.rationale as string | null,
        correlation: r.correlation as string | null, prevHash: String(r.prev_hash), hash: String(r.hash),
      };
    },
    async remove(seq) {
      db.prepare('DELETE FROM transitions WHERE seq = ?').run(seq);
    },
    async overwrite(seq, t) {
      db.prepare(`UPDATE transitions SET seq = ?, change_id = ?, action = ?, actor = ?, source_tool = ?, at = ?, before = ?, after = ?,
        rationale = ?, correlation = ?, prev_hash = ?, hash = ? WHERE seq = ?`).run(...row(t), seq);
    },
    async insert(t) {
      db.prepare('INSERT INTO transitions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(...row(t));
    },
    async close() {
      db.close();
    },
  };
}

function mongoAttacker(url: string): Attacker {
  const client = new MongoClient(url);
  const col = client.db(decodeURIComponent(new URL(url).pathname.slice(1))).collection('transitions');
  const doc = (t: Transition) => ({ ...t, before: JSON.stringify(t.before), after: JSON.stringify(t.after) });
  return {
    async read(seq) {
      const d = (await col.findOne({ seq }, { projection: { _id: 0 } }))!;
      return { ...d, before: JSON.parse(d.before), after: JSON.parse(d.after) } as unknown as Transition;
    },
    async remove(seq) {
      await col.deleteOne({ seq });
    },
    async overwrite(seq, t) {
      await col.updateOne({ seq }, { $set: doc(t) });
    },
    async insert(t) {
      await col.insertOne(doc(t));
    },
    close: () => client.close(),
  };
}

const attackerFor = (t: StoreTarget) => (targetKind(t) === 'sqlite' ? sqliteAttacker(t.url) : mongoAttacker(t.url));

/** Moves entries seq..last by `by` (±1), in an order that never has two entries on one seq. */
async function renumber(a: Attacker, from: number, last: number, by: 1 | -1): Promise<void> {
  const seqs = Array.from({ length: last - from + 1 }, (_, i) => from + i);
  if (by === 1) seqs.reverse();
  for (const s of seqs) await a.overwrite(s, { ...(await a.read(s)), seq: s + by });
}

for (const kind of storeTargets()) {
  describe(`audit tamper evidence: ${kind.name}`, () => {
    let target: StoreTarget;
    let store: Store;
    let attacker: Attacker;
    let head: Transition;
    const verify = (opts?: Parameters<typeof verifyChain>[1]) => verifyChain(store.audit.scan(), opts);
    const only = (r: VerifyReport) => {
      assert.equal(r.ok, false, 'verify must fail');
      return r.problems.map(({ seq, kind: k }) => ({ seq, kind: k }));
    };

    // A fresh chain of N entries for every test, so each tampering is judged alone.
    const fresh = async () => {
      target = storeTargets().find((t) => t.name === kind.name)!;
      store = await openStore(target.url);
      for (let i = 1; i <= N; i++) head = await store.audit.append(entry(i));
      attacker = attackerFor(target);
    };
    const done = async () => {
      await attacker.close();
      await store.close();
      await target.cleanup();
    };

    test('an untouched chain verifies', async () => {
      await fresh();
      try {
        const r = await verify({ checkpoint: { seq: head.seq, hash: head.hash } });
        assert.deepEqual(r, { ok: true, checked: N, head: { seq: N, hash: head.hash }, problems: [], problemsTruncated: false });
      } finally { await done(); }
    });

    test('an edited entry is reported at its seq', async () => {
      await fresh();
      try {
        await attacker.overwrite(7, { ...(await attacker.read(7)), actor: 'mallory@example.com' });
        const r = await verify();
        assert.deepEqual(only(r), [{ seq: 7, kind: 'edited' }]);
        assert.match(r.problems[0]!.detail, /does not match its hash/);
      } finally { await done(); }
    });

    test('an edited entry with a recomputed hash breaks the link to the next one', async () => {
      await fresh();
      try {
        const orig = await attacker.read(7);
        await attacker.overwrite(7, sealEntry(7, orig.prevHash, { ...orig, after: { state: 'approved', step: 7, approvers: ['mallory'] } }));
        const r = await verify();
        assert.deepEqual(only(r), [{ seq: 8, kind: 'inserted' }]);
        assert.match(r.problems[0]!.detail, /or 7 was rewritten together with its hash/);
      } finally { await done(); }
    });

    test('a deleted entry is reported as the gap it leaves', async () => {
      await fresh();
      try {
        await attacker.remove(7);
        assert.deepEqual(only(await verify()), [{ seq: 7, kind: 'deleted' }]);
      } finally { await done(); }
    });

    test('a deleted entry is found even when the later seqs were renumbered to close the gap', async () => {
      await fresh();
      try {
        await attacker.remove(7);
        await renumber(attacker, 8, N, -1);
        const r = await verify();
        assert.deepEqual(only(r), [{ seq: 7, kind: 'deleted' }]);
        assert.equal(r.checked, N - 1);
      } finally { await done(); }
    });

    test('an inserted entry with a valid hash is found when the later seqs were renumbered', async () => {
      await fresh();
      try {
        const sixth = await attacker.read(6);
        await renumber(attacker, 7, N, 1);
        await attacker.insert(sealEntry(7, sixth.hash, { ...entry(7), actor: 'mallory@example.com', action: 'override' }));
        const r = await verify();
        assert.deepEqual(only(r), [{ seq: 7, kind: 'inserted' }]);
        assert.equal(r.checked, N + 1);
      } finally { await done(); }
    });

    test('an entry appended by hand that does not link to the head is reported', async () => {
      await fresh();
      try {
        await attacker.insert(sealEntry(N + 1, 'f'.repeat(64), { ...entry(N + 1), actor: 'mallory@example.com' }));
        assert.deepEqual(only(await verify()), [{ seq: N + 1, kind: 'inserted' }]);
      } finally { await done(); }
    });

    test('two swapped entries are reported as reordered at the first of them', async () => {
      await fresh();
      try {
        const a = await attacker.read(7);
        const b = await attacker.read(8);
        await attacker.overwrite(7, { ...a, seq: 1_000_000 });
        await attacker.overwrite(8, { ...b, seq: 7 });
        await attacker.overwrite(1_000_000, { ...a, seq: 8 });
        const r = await verify();
        assert.deepEqual(only(r), [{ seq: 7, kind: 'reordered' }]);
        assert.match(r.problems[0]!.detail, /entries 7 and 8 were swapped/);
      } finally { await done(); }
    });

    test('deleting the newest entries is invisible without a checkpoint and reported with one', async () => {
      await fresh();
      try {
        const checkpoint = { seq: head.seq, hash: head.hash };
        for (let s = 26; s <= N; s++) await attacker.remove(s);
        // Without a checkpoint a shorter chain is still a valid chain: README.md explains this limit.
        assert.equal((await verify()).ok, true);
        const r = await verify({ checkpoint });
        assert.deepEqual(only(r), [{ seq: 26, kind: 'truncated' }]);
        assert.match(r.problems[0]!.detail, /ends at seq 25; the checkpoint says it reached 30/);
      } finally { await done(); }
    });

    test('a chain rewritten from an entry on with fresh hashes is caught by a checkpoint', async () => {
      await fresh();
      try {
        const checkpoint = { seq: head.seq, hash: head.hash };
        let prevHash = (await attacker.read(19)).hash;
        for (let s = 20; s <= N; s++) {
          const t = await attacker.read(s);
          const forged = sealEntry(s, prevHash, s === 20 ? { ...t, actor: 'mallory@example.com' } : t);
          await attacker.overwrite(s, forged);
          prevHash = forged.hash;
        }
        assert.equal((await verify()).ok, true, 'a consistent rewrite is only visible against a checkpoint');
        const r = await verify({ checkpoint });
        assert.deepEqual(only(r), [{ seq: N, kind: 'edited' }]);
        assert.match(r.problems[0]!.detail, /the checkpoint says/);
      } finally { await done(); }
    });

    test('incremental verify from a trusted checkpoint checks only the newer entries', async () => {
      await fresh();
      try {
        const mid = await store.audit.scan(19)[Symbol.asyncIterator]().next();
        const from = { seq: 19, hash: (mid.value as Transition).prevHash };
        const ok = await verifyChain(store.audit.scan(19), { from });
        assert.equal(ok.ok, true);
        assert.equal(ok.checked, N - 19);
        await attacker.overwrite(25, { ...(await attacker.read(25)), rationale: 'looks fine' });
        assert.deepEqual(only(await verifyChain(store.audit.scan(19), { from })), [{ seq: 25, kind: 'edited' }]);
        assert.deepEqual(only(await verifyChain(store.audit.scan(19), { from: { seq: 19, hash: GENESIS_HASH } })).slice(0, 1), [{ seq: 20, kind: 'inserted' }]);
      } finally { await done(); }
    });
  });
}

describe('audit tamper evidence: store-level guards', () => {
  test('sqlite: the append-only triggers refuse UPDATE and DELETE', async () => {
    const target = storeTargets().find((t) => t.name === 'sqlite')!;
    const store = await openStore(target.url);
    try {
      await store.audit.append(entry(1));
      const db = new DatabaseSync(target.url.slice('sqlite:'.length));
      try {
        assert.throws(() => db.prepare("UPDATE transitions SET actor = 'mallory' WHERE seq = 1").run(), /append-only: transitions cannot be updated/);
        assert.throws(() => db.prepare('DELETE FROM transitions WHERE seq = 1').run(), /append-only: transitions cannot be deleted/);
        assert.throws(() => db.prepare("INSERT INTO transitions SELECT * FROM transitions WHERE seq = 1").run(), /UNIQUE constraint failed: transitions.seq/);
      } finally {
        db.close();
      }
      assert.equal((await store.audit.head())!.actor, entry(1).actor, 'the entry is unchanged');
    } finally {
      await store.close();
      await target.cleanup();
    }
  });

  test('mongodb: a second entry with a taken seq is refused by the unique index', async () => {
    const target = storeTargets().find((t) => targetKind(t) === 'mongodb')!;
    const store = await openStore(target.url);
    const attacker = mongoAttacker(target.url);
    try {
      const first = await store.audit.append(entry(1));
      await assert.rejects(attacker.insert({ ...first, actor: 'mallory' }), /E11000|duplicate key/i);
      assert.equal((await verifyChain(store.audit.scan())).ok, true);
    } finally {
      await attacker.close();
      await store.close();
      await target.cleanup();
    }
  });
});

// ---------------------------------------------------------------- two OS processes
const storeModule = pathToFileURL(join(fileURLToPath(import.meta.url), '../../../src/store/index.ts')).href;
const childScript = `
import { openStore } from ${JSON.stringify(storeModule)};
import { createInterface } from 'node:readline';
const store = await openStore(process.env.STORE_URL);
process.stdout.write('ready\\n');
for await (const line of createInterface({ input: process.stdin })) if (line === 'go') break;
for (let i = 0; i < 200; i++) {
  await store.audit.append({ changeId: null, action: 'state', actor: process.env.WHO, sourceTool: 'hub',
    at: new Date().toISOString(), before: null, after: { i }, rationale: null, correlation: process.env.WHO + '-' + i });
}
await store.close();
`;

function appender(url: string, who: string) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', childScript], {
    env: { ...process.env, STORE_URL: url, WHO: who }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => { if (out.includes('ready')) { clearInterval(timer); resolve(); } }, 10);
    child.once('exit', (code) => { clearInterval(timer); reject(new Error(`${who} exited (${code}) before ready: ${err}`)); });
  });
  const exited = once(child, 'exit').then(([code]) => { if (code !== 0) throw new Error(`${who} exited with ${code}: ${err}`); });
  return { child, ready, exited };
}

for (const kind of storeTargets()) {
  test(`audit: two processes appending 200 entries each to one ${kind.name} store keep one chain`, async () => {
    const target = storeTargets().find((t) => t.name === kind.name)!;
    const store = await openStore(target.url); // creates the schema before the children start
    try {
      const a = appender(target.url, 'proc-a');
      const b = appender(target.url, 'proc-b');
      await Promise.all([a.ready, b.ready]);
      a.child.stdin.end('go\n');
      b.child.stdin.end('go\n');
      await Promise.all([a.exited, b.exited]);

      const report = await verifyChain(store.audit.scan());
      assert.equal(report.ok, true, JSON.stringify(report.problems.slice(0, 3)));
      assert.equal(report.checked, 400);
      assert.equal(report.head!.seq, 400);
      const byWho: Record<string, number[]> = { 'proc-a': [], 'proc-b': [] };
      for await (const t of store.audit.scan()) byWho[t.actor]!.push((t.after as { i: number }).i);
      // Each process's 200 entries are all there, in the order it appended them.
      for (const list of Object.values(byWho)) assert.deepEqual(list, Array.from({ length: 200 }, (_, i) => i));
    } finally {
      await store.close();
      await target.cleanup();
    }
  });
}
