// Audit log speed on the embedded store (SQLite file):
// - append rate through the store's `append`, one after another (each is its own BEGIN IMMEDIATE
//   transaction with an fsync, the worst case);
// - verify time of a 1 M-entry chain through `scan` + `verifyChain` (the product promise: < 30 s);
// - export time of the same chain;
// - append rate and verify time on MongoDB when MONGODB_URI is set.
// The 1 M entries are NOT written through `append` (that would take as long as the append rate says):
// they are sealed with the same `sealEntry` and inserted in large transactions straight into the
// transitions table. The chain is the same; only the write path is faster.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MongoClient } from 'mongodb';
import { GENESIS_HASH, sealEntry, verifyChain } from '../src/audit/chain.ts';
import { exportAudit } from '../src/audit/export.ts';
import { openStore } from '../src/store/index.ts';
import type { TransitionInput } from '../src/store/port.ts';

const ENTRIES = Number(process.env.BENCH_AUDIT_ENTRIES ?? 1_000_000);
const APPENDS = Number(process.env.BENCH_AUDIT_APPENDS ?? 2_000);

const entry = (i: number): TransitionInput => ({
  changeId: `CHG${String(30000 + (i % 5000)).padStart(7, '0')}`,
  action: i % 3 ? 'decision' : 'state',
  actor: i % 2 ? 'alice@example.com' : 'github-app',
  sourceTool: i % 4 ? 'hub' : 'servicenow',
  at: new Date(Date.UTC(2026, 6, 1) + i * 1000).toISOString(),
  before: { state: 'pending-approval', step: 'cab' },
  after: { state: 'approved', step: 'cab', decision: { outcome: 'approve', by: 'alice@example.com' } },
  rationale: i % 10 ? null : 'risk accepted by change manager',
  correlation: `dlv-${i}`,
});

const secs = (ms: number) => Math.round(ms) / 1000;

async function appendRate(dir: string, synchronous: 'full' | 'deliveries'): Promise<Record<string, number | string>> {
  const store = await openStore(`sqlite:${join(dir, `append-${synchronous}.db`)}?synchronous=${synchronous}`);
  try {
    const t = performance.now();
    for (let i = 0; i < APPENDS; i++) await store.audit.append(entry(i));
    const ms = performance.now() - t;
    return { appends: APPENDS, seconds: secs(ms), 'appends/s': Math.round(APPENDS / (ms / 1000)), 'ms/append': Math.round((ms / APPENDS) * 1000) / 1000 };
  } finally {
    await store.close();
  }
}

async function verifyMillion(dir: string): Promise<Record<string, number | string>> {
  const file = join(dir, 'verify.db');
  const url = `sqlite:${file}`;
  await (await openStore(url)).close(); // creates the schema
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;');
  const insert = db.prepare('INSERT INTO transitions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  let buildMs = performance.now();
  let prevHash = GENESIS_HASH;
  const BATCH = 50_000;
  for (let start = 1; start <= ENTRIES; start += BATCH) {
    db.exec('BEGIN');
    for (let seq = start; seq < start + BATCH && seq <= ENTRIES; seq++) {
      const t = sealEntry(seq, prevHash, entry(seq));
      insert.run(t.seq, t.changeId, t.action, t.actor, t.sourceTool, t.at, JSON.stringify(t.before), JSON.stringify(t.after), t.rationale, t.correlation, t.prevHash, t.hash);
      prevHash = t.hash;
    }
    db.exec('COMMIT');
  }
  db.close();
  buildMs = performance.now() - buildMs;

  const store = await openStore(url);
  try {
    let t = performance.now();
    const cpu = process.cpuUsage();
    const report = await verifyChain(store.audit.scan());
    const verifyMs = performance.now() - t;
    const verifyCpu = process.cpuUsage(cpu);
    if (!report.ok || report.checked !== ENTRIES) throw new Error(`bench chain did not verify: ${JSON.stringify(report.problems.slice(0, 3))}`);
    t = performance.now();
    const exported = await exportAudit(store.audit, join(dir, 'audit.jsonl'));
    const exportMs = performance.now() - t;
    return {
      entries: ENTRIES,
      'build seconds (bulk insert, not append)': secs(buildMs),
      'verify seconds': secs(verifyMs),
      // CPU time says what verify costs when other processes share the machine (wall time then grows).
      'verify CPU seconds': secs((verifyCpu.user + verifyCpu.system) / 1000),
      'verified entries/s': Math.round(ENTRIES / (verifyMs / 1000)),
      'verify under 30 s': verifyMs < 30_000 ? 'yes' : 'NO',
      'export seconds': secs(exportMs),
      'export MB': Math.round(statSync(join(dir, 'audit.jsonl')).size / 1e6),
      'db MB': Math.round(statSync(file).size / 1e6),
      'export checkpoint seq': exported.seq,
    };
  } finally {
    await store.close();
  }
}

/** The same figures on a real MongoDB, when MONGODB_URI is set. Not on jongodb: its inserts into a
 * collection with a unique index slow down with the collection's size (20 000 entries took ~45 s to
 * load, 9 s to verify), which measures the test server, not the adapter. */
async function mongoFigures(base: string): Promise<Record<string, number | string>> {
  const db = `hub-bench-audit-${Date.now().toString(36)}`;
  const u = new URL(base);
  u.pathname = `/${db}`;
  const store = await openStore(u.toString());
  const client = new MongoClient(u.toString());
  const entries = Math.min(ENTRIES, 200_000);
  try {
    const appends = Math.min(APPENDS, 1000);
    let t = performance.now();
    for (let i = 0; i < appends; i++) await store.audit.append(entry(i));
    const appendMs = performance.now() - t;
    // Bulk load continuing the chain, in the adapter's document shape (before/after as JSON text).
    const col = client.db(db).collection('transitions');
    let prev = (await store.audit.head())!;
    t = performance.now();
    for (let start = prev.seq + 1; start <= entries; start += 10_000) {
      const docs = [];
      for (let seq = start; seq < start + 10_000 && seq <= entries; seq++) {
        prev = sealEntry(seq, prev.hash, entry(seq));
        docs.push({ ...prev, before: JSON.stringify(prev.before), after: JSON.stringify(prev.after) });
      }
      await col.insertMany(docs);
    }
    const buildMs = performance.now() - t;
    t = performance.now();
    const report = await verifyChain(store.audit.scan());
    const verifyMs = performance.now() - t;
    if (!report.ok || report.checked !== entries) throw new Error(`bench chain did not verify: ${JSON.stringify(report.problems.slice(0, 3))}`);
    return {
      appends, 'appends/s': Math.round(appends / (appendMs / 1000)),
      entries, 'build seconds (bulk insert, not append)': secs(buildMs), 'verify seconds': secs(verifyMs),
      'verified entries/s': Math.round(entries / (verifyMs / 1000)),
    };
  } finally {
    await client.db(db).collection('transitions').drop().catch(() => {});
    for (const name of ['changes', 'links', 'deliveries', 'jobs', 'conflicts', 'tokens', 'cursors', 'ticks', 'migrations']) {
      await client.db(db).collection(name).drop().catch(() => {});
    }
    await client.close();
    await store.close();
  }
}

export async function benchAudit(): Promise<{ name: string; figures: Record<string, number | string> }[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hub-bench-audit-'));
  const mongo = process.env.MONGODB_URI;
  try {
    const results = [
      { name: 'audit: append (SQLite synchronous=full: an fsync per append)', figures: await appendRate(dir, 'full') },
      { name: 'audit: append (SQLite default synchronous=deliveries: survives kill -9, not power loss)', figures: await appendRate(dir, 'deliveries') },
      { name: `audit: verify and export ${ENTRIES} entries (SQLite)`, figures: await verifyMillion(dir) },
    ];
    if (mongo) results.push({ name: 'audit: append and verify on MongoDB', figures: await mongoFigures(mongo) });
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchAudit()) process.stdout.write(`${r.name}\n${JSON.stringify(r.figures, null, 2)}\n`);
}
