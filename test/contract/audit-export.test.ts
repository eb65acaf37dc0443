// The audit chain's encoding and the export file an auditor keeps: canonical JSON, the hash
// definition, and verifying an export (and a store) against the checkpoint on its last line.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GENESIS_HASH, canonicalJson, encodeEntry, hashEntry, hashedFields, sealEntry, verifyChain } from '../../src/audit/chain.ts';
import { ExportFormatError, exportAudit, readExportCheckpoint, verifyExport } from '../../src/audit/export.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store, Transition, TransitionInput } from '../../src/store/port.ts';

const entry = (i: number): TransitionInput => ({
  changeId: i % 3 ? `CHG-${i % 3}` : null, action: 'decision', actor: 'alice@example.com', sourceTool: 'jira',
  at: new Date(Date.UTC(2026, 8, 30, 12, 0, i)).toISOString(), before: null,
  after: { outcome: i % 2 ? 'approve' : 'reject', note: 'ok ✓ "quoted"', weights: [1, 0.5, 1e21] },
  rationale: null, correlation: `dlv-${i}`,
});

function chainOf(n: number, change: (i: number, e: TransitionInput) => TransitionInput = (_i, e) => e): Transition[] {
  const out: Transition[] = [];
  let prevHash = GENESIS_HASH;
  for (let i = 1; i <= n; i++) {
    const t = sealEntry(i, prevHash, change(i, entry(i)));
    out.push(t);
    prevHash = t.hash;
  }
  return out;
}

describe('canonical encoding and hash', () => {
  test('canonicalJson sorts keys at every depth, keeps array order and writes numbers as JSON does', () => {
    assert.equal(
      canonicalJson({ b: [3, { z: 1, a: null }], a: 'x', 'é': true, A: -0, n: 1e21, f: 0.1 }),
      '{"A":0,"a":"x","b":[3,{"a":null,"z":1}],"f":0.1,"n":1e+21,"é":true}',
    );
    assert.equal(canonicalJson('line\nbreak "q"'), '"line\\nbreak \\"q\\""');
    assert.throws(() => canonicalJson(Number.NaN), /NaN is not a JSON number/);
  });

  test('the fast entry encoding is exactly the canonical encoding of the hashed fields', () => {
    for (const t of chainOf(6)) assert.equal(encodeEntry(t), canonicalJson(hashedFields(t.seq, t)));
  });

  test('hash = sha256(prevHash + "\\n" + canonical entry), so anyone can recompute it', () => {
    const [first] = chainOf(1);
    const expected = createHash('sha256').update(`${GENESIS_HASH}\n${canonicalJson(hashedFields(1, entry(1)))}`).digest('hex');
    assert.equal(first!.hash, expected);
    assert.equal(hashEntry(GENESIS_HASH, { ...entry(1), seq: 1 }), expected);
    assert.notEqual(hashEntry(GENESIS_HASH, { ...entry(1), seq: 2 }), expected, 'the seq is part of the hash');
  });
});

describe('verifyChain on entries in hand', () => {
  test('an empty chain is valid; against a checkpoint it is truncated', async () => {
    assert.deepEqual(await verifyChain([]), { ok: true, checked: 0, head: null, problems: [], problemsTruncated: false });
    const r = await verifyChain([], { checkpoint: { seq: 3, hash: 'a'.repeat(64) } });
    assert.deepEqual(r.problems.map((p) => [p.seq, p.kind]), [[1, 'truncated']]);
  });

  test('a checkpoint of an empty chain holds for any chain', async () => {
    const empty = { seq: 0, hash: GENESIS_HASH };
    assert.equal((await verifyChain([], { checkpoint: empty })).ok, true);
    assert.equal((await verifyChain(chainOf(3), { checkpoint: empty })).ok, true);
  });

  test('a repeated seq is an insertion', async () => {
    const c = chainOf(5);
    const dup = sealEntry(3, c[1]!.hash, { ...entry(3), actor: 'mallory' });
    const r = await verifyChain([c[0]!, c[1]!, c[2]!, dup, c[3]!, c[4]!]);
    assert.deepEqual(r.problems.map((p) => [p.seq, p.kind]), [[3, 'inserted']]);
  });

  test('entries out of seq order are reordered', async () => {
    const c = chainOf(8);
    const r = await verifyChain([c[0]!, c[1]!, c[2]!, c[3]!, c[4]!, c[5]!, c[7]!, c[6]!]);
    assert.deepEqual(r.problems.map((p) => [p.seq, p.kind]), [[7, 'reordered']]);
    const far = await verifyChain([c[0]!, c[4]!, c[1]!, c[2]!, c[3]!, c[5]!]);
    assert.equal(far.ok, false);
  });

  test('maxProblems caps the list and says so', async () => {
    const c = chainOf(10).map((t) => ({ ...t, actor: 'mallory' }));
    const r = await verifyChain(c, { maxProblems: 3 });
    assert.equal(r.problems.length, 3);
    assert.equal(r.problemsTruncated, true);
    assert.equal(r.checked, 10);
  });
});

describe('audit export', () => {
  let dir: string;
  let store: Store;
  const N = 40;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hub-audit-export-'));
    store = await openStore(`sqlite:${join(dir, 'hub.db')}`);
    for (let i = 1; i <= N; i++) await store.audit.append(entry(i));
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');
  const rewrite = (file: string, out: string, edit: (ls: string[]) => string[]) => writeFileSync(out, `${edit(lines(file)).join('\n')}\n`);

  test('writes every entry then a checkpoint line, and the export verifies', async () => {
    const file = join(dir, 'q3.jsonl');
    const cp = await exportAudit(store.audit, file, { now: () => new Date('2026-10-01T00:00:00Z') });
    const head = (await store.audit.head())!;
    assert.deepEqual(cp, { seq: N, hash: head.hash, at: '2026-10-01T00:00:00.000Z', count: N });
    const ls = lines(file);
    assert.equal(ls.length, N + 1);
    assert.deepEqual(JSON.parse(ls[0]!), (await store.audit.listForChange('CHG-1'))[0]);
    assert.deepEqual(JSON.parse(ls[N]!), { checkpoint: { seq: N, hash: head.hash, at: '2026-10-01T00:00:00.000Z' } });
    assert.deepEqual(await readExportCheckpoint(file), { seq: N, hash: head.hash, at: '2026-10-01T00:00:00.000Z' });
    const r = await verifyExport(file);
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.checked, N);
    // The store still verifies against the checkpoint the auditor kept.
    assert.equal((await verifyChain(store.audit.scan(), { checkpoint: cp })).ok, true);
  });

  test('an export of an empty chain verifies', async () => {
    const empty = await openStore('sqlite::memory:');
    try {
      const file = join(dir, 'empty.jsonl');
      const cp = await exportAudit(empty.audit, file);
      assert.equal(cp.seq, 0);
      assert.equal(lines(file).length, 1);
      const r = await verifyExport(file);
      assert.equal(r.ok, true, JSON.stringify(r.problems));
      assert.equal(r.checked, 0);
    } finally {
      await empty.close();
    }
  });

  test('an export cut short has lost its checkpoint line and is reported truncated', async () => {
    const file = join(dir, 'full.jsonl');
    await exportAudit(store.audit, file);
    const cut = join(dir, 'cut.jsonl');
    rewrite(file, cut, (ls) => ls.slice(0, 30));
    const r = await verifyExport(cut);
    assert.equal(r.ok, false);
    assert.deepEqual(r.problems.map((p) => [p.seq, p.kind]), [[31, 'truncated']]);
    assert.match(r.problems[0]!.detail, /no checkpoint line/);
  });

  test('entries dropped from the end of an export are reported against its checkpoint', async () => {
    const file = join(dir, 'full2.jsonl');
    await exportAudit(store.audit, file);
    const out = join(dir, 'dropped.jsonl');
    rewrite(file, out, (ls) => [...ls.slice(0, 35), ls[N]!]);
    assert.deepEqual((await verifyExport(out)).problems.map((p) => [p.seq, p.kind]), [[36, 'truncated']]);
  });

  test('an edited line is reported at its seq', async () => {
    const file = join(dir, 'full3.jsonl');
    await exportAudit(store.audit, file);
    const out = join(dir, 'edited.jsonl');
    rewrite(file, out, (ls) => ls.map((l, i) => (i === 11 ? l.replace('"outcome":"reject"', '"outcome":"approve"') : l)));
    assert.deepEqual((await verifyExport(out)).problems.map((p) => [p.seq, p.kind]), [[12, 'edited']]);
  });

  test('two swapped lines are reported as reordered', async () => {
    const file = join(dir, 'full4.jsonl');
    await exportAudit(store.audit, file);
    const out = join(dir, 'swapped.jsonl');
    rewrite(file, out, (ls) => ls.map((l, i) => (i === 6 ? ls[7]! : i === 7 ? ls[6]! : l)));
    assert.deepEqual((await verifyExport(out)).problems.map((p) => [p.seq, p.kind]), [[7, 'reordered']]);
  });

  test('a line that is not an entry is an error naming the file and line', async () => {
    const file = join(dir, 'full5.jsonl');
    await exportAudit(store.audit, file);
    const out = join(dir, 'garbled.jsonl');
    rewrite(file, out, (ls) => ls.map((l, i) => (i === 4 ? '{"seq": 5, "actor": "x"}' : i === 9 ? 'not json' : l)));
    await assert.rejects(verifyExport(out), (err: Error) => err instanceof ExportFormatError && err.message === `${out}:5: not an audit entry (missing changeId, action, sourceTool, at, before, after, rationale, correlation, prevHash, hash)`);
    const out2 = join(dir, 'garbled2.jsonl');
    rewrite(file, out2, (ls) => ls.map((l, i) => (i === 9 ? 'not json' : l)));
    await assert.rejects(verifyExport(out2), (err: Error) => err instanceof ExportFormatError && err.message === `${out2}:10: not a JSON line`);
  });

  test('a store whose chain was rewritten after the export fails against the export\'s checkpoint', async () => {
    const file = join(dir, 'before-rewrite.jsonl');
    const cp = await exportAudit(store.audit, file);
    // A whole new, self-consistent chain of the same length with one decision changed.
    const forged = chainOf(N, (i, e) => (i === 10 ? { ...e, actor: 'mallory@example.com' } : e));
    assert.equal((await verifyChain(forged)).ok, true);
    const r = await verifyChain(forged, { checkpoint: cp });
    assert.equal(r.ok, false);
    assert.deepEqual(r.problems.map((p) => [p.seq, p.kind]), [[N, 'edited']]);
  });
});
