// The store contract: every adapter (SQLite, jongodb, and MongoDB when MONGODB_URI is set) must
// behave the same. Races run through two store instances on the same database, as two hub
// processes would.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { verifyChain } from '../../src/audit/chain.ts';
import { openStore } from '../../src/store/index.ts';
import { StoreConflictError, StoreInputError, type ChangeRecord, type Store } from '../../src/store/port.ts';
import { storeTargets } from '../support/mongo.ts';

const uid = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;
const t0 = Date.parse('2026-11-24T10:00:00.000Z');
const at = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();

function newChange(id: string, extra: Partial<ChangeRecord> = {}) {
  return {
    id, state: 'pending-approval', tier: 'tier-2', team: 'payments', environment: 'production', type: 'normal',
    data: { title: `Deploy ${id}`, risk: { score: 42 } }, ...extra,
  };
}

function delivery(connectionId: string, dedupeKey: string, receivedAt = new Date().toISOString()) {
  return {
    id: uid('dlv'), connectionId, dedupeKey, event: 'deployment_protection_rule', receivedAt,
    headers: { 'x-github-delivery': dedupeKey, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'requested', environment: 'production' }),
  };
}

for (const target of storeTargets()) {
  describe(`store contract: ${target.name}`, () => {
    let store: Store;
    let other: Store; // a second "hub process" on the same database

    before(async () => {
      store = await openStore(target.url);
      other = await openStore(target.url);
    });
    after(async () => {
      await store.close();
      await other.close();
      await target.cleanup();
    });

    test('reports its kind, answers ping, and migrate can run again', async () => {
      assert.equal(store.kind, target.name === 'sqlite' ? 'sqlite' : 'mongodb');
      await store.ping();
      await store.migrate();
      await other.migrate();
    });

    // ------------------------------------------------------------ changes
    test('changes: create stores version 1 and get returns it', async () => {
      const id = uid('chg');
      const created = await store.changes.create({ ...newChange(id), createdAt: at(0) });
      assert.equal(created.version, 1);
      assert.equal(created.createdAt, at(0));
      assert.equal(created.updatedAt, at(0));
      assert.deepEqual(await other.changes.get(id), created);
      assert.deepEqual(created.data, { title: `Deploy ${id}`, risk: { score: 42 } });
      assert.equal(await store.changes.get(uid('missing')), null);
    });

    test('changes: creating an existing id is a conflict', async () => {
      const id = uid('chg');
      await store.changes.create(newChange(id));
      await assert.rejects(other.changes.create(newChange(id)), StoreConflictError);
    });

    test('changes: update applies the patch only at the expected version', async () => {
      const id = uid('chg');
      await store.changes.create(newChange(id, { tier: null }));
      const v2 = await store.changes.update(id, 1, { state: 'approved', tier: 'tier-1', data: { title: 'new title' } });
      assert.ok(v2);
      assert.equal(v2.version, 2);
      assert.equal(v2.state, 'approved');
      assert.equal(v2.tier, 'tier-1');
      assert.equal(v2.team, 'payments'); // untouched fields stay
      assert.deepEqual(v2.data, { title: 'new title' });
      assert.equal(await other.changes.update(id, 1, { state: 'rejected' }), null, 'a stale version must not win');
      assert.equal((await store.changes.get(id))!.state, 'approved');
      assert.equal(await store.changes.update(uid('missing'), 1, { state: 'x' }), null);
    });

    // Races run many rounds: a store whose compare-and-set is not atomic loses only some of them.
    const ROUNDS = 25;

    test('changes: of concurrent updates at one version exactly one wins', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const id = uid('chg');
        await store.changes.create(newChange(id));
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? other : store).changes.update(id, 1, { state: `state-${i}` })));
        const winners = results.filter((r) => r !== null);
        assert.equal(winners.length, 1, `round ${round}`);
        const stored = await store.changes.get(id);
        assert.equal(stored!.version, 2);
        assert.deepEqual(stored, winners[0], 'the winner gets back what is stored');
      }
    });

    test('changes: list pages newest first with filters and stable cursors', async () => {
      const team = uid('team');
      // Seven changes, three sharing one timestamp (ties are broken by id, descending).
      const ids: string[] = [];
      for (const [i, minute] of [0, 1, 2, 2, 2, 3, 4].entries()) {
        const id = `${team}-c${i}`;
        ids.push(id);
        await store.changes.create({ ...newChange(id, { team, state: i % 2 ? 'approved' : 'pending-approval' }), createdAt: at(minute) });
      }
      const expected = [...ids].reverse(); // by minute desc, then id desc
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await (pages % 2 ? other : store).changes.list({ team }, { limit: 3, cursor });
        assert.ok(page.items.length <= 3);
        seen.push(...page.items.map((c) => c.id));
        cursor = page.next;
        pages++;
      } while (cursor);
      assert.deepEqual(seen, expected);
      assert.equal(pages, 3);

      const approved = await store.changes.list({ team, state: 'approved' }, { limit: 10 });
      assert.deepEqual(approved.items.map((c) => c.id), expected.filter((id) => Number(id.slice(-1)) % 2 === 1));
      assert.equal(approved.next, null);
      const recent = await store.changes.list({ team, since: at(2) }, { limit: 10 });
      assert.deepEqual(recent.items.map((c) => c.id), expected.slice(0, 5));
      const tier = await store.changes.list({ team, tier: 'tier-9' }, { limit: 10 });
      assert.deepEqual(tier, { items: [], next: null });
    });

    test('changes: an updated change moves to the front of the list', async () => {
      const team = uid('team');
      await store.changes.create({ ...newChange(`${team}-a`, { team }), createdAt: at(0) });
      await store.changes.create({ ...newChange(`${team}-b`, { team }), createdAt: at(1) });
      await store.changes.update(`${team}-a`, 1, { state: 'approved' }); // updatedAt = now, after at(1)
      const page = await store.changes.list({ team }, { limit: 10 });
      assert.deepEqual(page.items.map((c) => c.id), [`${team}-a`, `${team}-b`]);
    });

    test('changes: a cursor that is not ours and a bad limit are input errors', async () => {
      await assert.rejects(store.changes.list({}, { limit: 10, cursor: 'not-a-cursor' }), StoreInputError);
      await assert.rejects(store.changes.list({}, { limit: 0 }), /limit: must be an integer from 1 to 1000/);
      await assert.rejects(store.changes.list({ since: 'yesterday' }, { limit: 5 }), /since: "yesterday" is not an ISO-8601 time/);
    });

    // ------------------------------------------------------------ links
    test('links: upsert inserts, then updates the same identity', async () => {
      const changeId = uid('chg');
      const key = uid('CHG');
      const first = await store.links.upsert({
        changeId, connectionId: 'servicenow-prod', kind: 'change_request', externalId: key,
        url: `https://example.service-now.com/${key}`, versionSeen: '2026-11-24 10:00:00', data: { number: 'CHG0030001' },
      });
      assert.equal(first.versionSeen, '2026-11-24 10:00:00');
      const second = await other.links.upsert({ ...first, versionSeen: '2026-11-24 10:05:00', data: { number: 'CHG0030001', state: 'assess' } });
      assert.equal(second.changeId, changeId);
      assert.equal(second.versionSeen, '2026-11-24 10:05:00');
      assert.deepEqual(await store.links.find('servicenow-prod', 'change_request', key), second);
      assert.equal(await store.links.find('servicenow-prod', 'incident', key), null);
      await store.links.upsert({ changeId, connectionId: 'jira-cloud', kind: 'issue', externalId: uid('OPS'), url: null, versionSeen: null, data: {} });
      const all = await store.links.listForChange(changeId);
      assert.deepEqual(all.map((l) => l.connectionId), ['jira-cloud', 'servicenow-prod']);
    });

    test('links: an identity owned by another change is a conflict and stays put', async () => {
      const key = uid('PR');
      const link = { connectionId: 'github', kind: 'deployment', externalId: key, url: null, versionSeen: null, data: {} };
      await store.links.upsert({ ...link, changeId: 'change-a' });
      await assert.rejects(other.links.upsert({ ...link, changeId: 'change-b' }), (err: Error) =>
        err instanceof StoreConflictError && /already linked to change change-a/.test(err.message));
      assert.equal((await store.links.find('github', 'deployment', key))!.changeId, 'change-a');
    });

    test('links: of two changes racing for one identity exactly one owns it', async () => {
      const key = uid('run');
      const link = { connectionId: 'azure-devops', kind: 'approval', externalId: key, url: null, versionSeen: null, data: {} };
      const results = await Promise.allSettled(['change-x', 'change-y', 'change-x', 'change-y'].map((changeId, i) =>
        (i % 2 ? other : store).links.upsert({ ...link, changeId })));
      const owner = (await store.links.find('azure-devops', 'approval', key))!.changeId;
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(r.reason instanceof StoreConflictError, String(r.reason));
        else assert.equal(r.value.changeId, owner);
      }
      assert.ok(results.some((r) => r.status === 'rejected'));
    });

    // ------------------------------------------------------------ deliveries
    test('deliveries: a repeated dedupe key is not stored twice', async () => {
      const conn = uid('github');
      const first = await store.deliveries.insert(delivery(conn, 'guid-1'));
      assert.equal(first.inserted, true);
      assert.equal(first.delivery.status, 'received');
      assert.equal(first.delivery.reason, null);
      const again = await other.deliveries.insert(delivery(conn, 'guid-1'));
      assert.equal(again.inserted, false);
      assert.deepEqual(again.delivery, first.delivery);
      // The same key on another connection is another delivery.
      assert.equal((await store.deliveries.insert(delivery(uid('gitlab'), 'guid-1'))).inserted, true);
    });

    test('deliveries: idsByDedupeKey finds the stored deliveries of a connection by key, and nothing elsewhere', async () => {
      const conn = uid('github');
      const { delivery: a } = await store.deliveries.insert(delivery(conn, 'guid-found'));
      const { delivery: b } = await store.deliveries.insert(delivery(conn, 'guid-also'));
      const found = await other.deliveries.idsByDedupeKey(conn, ['guid-found', 'guid-missing', 'guid-also', 'guid-found']);
      assert.deepEqual([...found].sort(), [['guid-also', b.id], ['guid-found', a.id]]);
      assert.equal((await store.deliveries.idsByDedupeKey(uid('gitlab'), ['guid-found'])).size, 0);
      assert.equal((await store.deliveries.idsByDedupeKey(conn, [])).size, 0);
      // Keys are data: quotes and JSON-looking text are matched as they are.
      const odd = 'k"\\,[1]\u0000é';
      const { delivery: c } = await store.deliveries.insert(delivery(conn, odd));
      assert.equal((await store.deliveries.idsByDedupeKey(conn, [odd])).get(odd), c.id);
    });

    test('deliveries: of concurrent inserts of one delivery exactly one is inserted', async () => {
      const conn = uid('pagerduty');
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).deliveries.insert(delivery(conn, 'evt-42'))));
      assert.equal(results.filter((r) => r.inserted).length, 1);
      const winner = results.find((r) => r.inserted)!.delivery.id;
      for (const r of results) assert.equal(r.delivery.id, winner);
      assert.equal((await store.deliveries.list({ connectionId: conn }, { limit: 100 })).items.length, 1);
    });

    test('deliveries: insertMany stores a batch and flags duplicates in and outside it', async () => {
      const conn = uid('jira');
      await store.deliveries.insert(delivery(conn, 'old'));
      const batch = [delivery(conn, 'a'), delivery(conn, 'old'), delivery(conn, 'b'), delivery(conn, 'a')];
      const out = await other.deliveries.insertMany(batch);
      assert.deepEqual(out.map((r) => r.inserted), [true, false, true, false]);
      assert.equal(out[0]!.delivery.id, batch[0]!.id);
      assert.equal(out[3]!.delivery.id, batch[0]!.id, 'an in-batch duplicate points at the first one');
      assert.equal(out[2]!.delivery.body, batch[2]!.body);
      assert.equal((await store.deliveries.list({ connectionId: conn }, { limit: 100 })).items.length, 3);
      assert.deepEqual(await store.deliveries.insertMany([]), []);
    });

    test('deliveries: setStatus records the outcome and list filters and pages', async () => {
      const conn = uid('servicenow');
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await store.deliveries.insert(delivery(conn, `k${i}`, at(i)))).delivery.id);
      const before = await store.deliveries.countByStatus();
      await store.deliveries.setStatus(ids[1]!, 'ignored', 'no mapping for table incident');
      await other.deliveries.setStatus(ids[3]!, 'processed');
      const ignored = await store.deliveries.get(ids[1]!);
      assert.equal(ignored!.status, 'ignored');
      assert.equal(ignored!.reason, 'no mapping for table incident');
      assert.ok(ignored!.processedAt);
      assert.equal(await store.deliveries.get(uid('missing')), null);

      const after = await store.deliveries.countByStatus();
      assert.equal(after.received, before.received - 2);
      assert.equal(after.ignored, before.ignored + 1);
      assert.equal(after.processed, before.processed + 1);
      assert.equal(typeof after.failed, 'number');

      const received = await store.deliveries.list({ connectionId: conn, status: 'received' }, { limit: 10 });
      assert.deepEqual(received.items.map((d) => d.id), [ids[4], ids[2], ids[0]]);
      const p1 = await store.deliveries.list({ connectionId: conn }, { limit: 2 });
      const p2 = await store.deliveries.list({ connectionId: conn }, { limit: 2, cursor: p1.next });
      const p3 = await store.deliveries.list({ connectionId: conn }, { limit: 2, cursor: p2.next });
      assert.deepEqual([...p1.items, ...p2.items, ...p3.items].map((d) => d.id), [...ids].reverse());
      assert.equal(p3.next, null);
    });

    // ------------------------------------------------------------ jobs
    test('jobs: ensure records a job once and never resets it', async () => {
      const key = uid('job');
      const job = { key, changeId: 'chg-1', connectionId: 'github', intent: 'github.answer-gate' };
      const first = await store.jobs.ensure(job);
      assert.equal(first.created, true);
      assert.equal(first.job.status, 'pending');
      assert.equal(first.job.attempts, 0);
      await store.jobs.start(key);
      const again = await other.jobs.ensure(job);
      assert.equal(again.created, false);
      assert.equal(again.job.status, 'running');
      assert.equal(again.job.attempts, 1);
    });

    test('jobs: the ledger moves pending → running → pending → running → failed → running → done', async () => {
      const key = uid('job');
      await store.jobs.ensure({ key, changeId: null, connectionId: 'jira', intent: 'jira.comment' });
      const s1 = await store.jobs.start(key);
      assert.equal(s1!.status, 'running');
      assert.equal(s1!.attempts, 1);
      assert.equal(await other.jobs.start(key), null, 'a running job cannot be started again');
      await store.jobs.fail(key, '503 from Jira', false);
      let j = await store.jobs.get(key);
      assert.equal(j!.status, 'pending');
      assert.equal(j!.error, '503 from Jira');
      assert.equal((await store.jobs.start(key))!.attempts, 2);
      await store.jobs.fail(key, '400 field "customfield_1" unknown', true);
      assert.equal((await store.jobs.get(key))!.status, 'failed');
      assert.equal((await store.jobs.start(key))!.attempts, 3, 'an operator replay starts a failed job');
      await store.jobs.finish(key, { commentId: '10042' });
      j = await store.jobs.get(key);
      assert.equal(j!.status, 'done');
      assert.deepEqual(j!.result, { commentId: '10042' });
      assert.equal(j!.error, null);
      assert.equal(await store.jobs.start(key), null, 'a done job never runs again');
      await store.jobs.fail(key, 'late failure', false);
      assert.equal((await store.jobs.get(key))!.status, 'done', 'a late failure does not undo done');
      assert.equal(await store.jobs.get(uid('missing')), null);
    });

    test('jobs: of concurrent starts exactly one gets the job', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const key = uid('job');
        await store.jobs.ensure({ key, changeId: null, connectionId: 'pagerduty', intent: 'pagerduty.note' });
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? other : store).jobs.start(key)));
        const winners = results.filter((r) => r !== null);
        assert.equal(winners.length, 1, `round ${round}`);
        assert.deepEqual(await store.jobs.get(key), winners[0]);
        assert.equal(winners[0]!.attempts, 1);
      }
    });

    test('jobs: concurrent ensures of one key create it once', async () => {
      const key = uid('job');
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? other : store).jobs.ensure({ key, changeId: 'c', connectionId: 'github', intent: 'github.comment' })));
      assert.equal(results.filter((r) => r.created).length, 1);
    });

    test('jobs: listForChange lists a change\'s jobs', async () => {
      const changeId = uid('chg');
      await store.jobs.ensure({ key: `${changeId}:a`, changeId, connectionId: 'github', intent: 'github.answer-gate' });
      await store.jobs.ensure({ key: `${changeId}:b`, changeId, connectionId: 'jira', intent: 'jira.transition' });
      await store.jobs.ensure({ key: uid('unrelated'), changeId: uid('chg'), connectionId: 'jira', intent: 'jira.transition' });
      const jobs = await other.jobs.listForChange(changeId);
      assert.deepEqual(jobs.map((j) => j.key).sort(), [`${changeId}:a`, `${changeId}:b`]);
    });

    // ------------------------------------------------------------ conflicts
    test('conflicts: create, list by change and status, resolve once', async () => {
      const changeId = uid('chg');
      const versions = [
        { connectionId: 'servicenow-prod', value: 'approved', seenAt: at(1) },
        { connectionId: 'jira-cloud', value: 'rejected', seenAt: at(2) },
      ];
      const ids = [uid('cf'), uid('cf'), uid('cf')];
      for (const id of ids) await store.conflicts.create({ id, changeId, kind: 'decision', versions });
      await assert.rejects(store.conflicts.create({ id: ids[0]!, changeId, kind: 'decision', versions }), StoreConflictError);
      const c = await other.conflicts.get(ids[0]!);
      assert.equal(c!.status, 'open');
      assert.deepEqual(c!.versions, versions);
      assert.equal(c!.resolution, null);

      const resolution = { outcome: 'rejected', by: 'alice@example.com', rationale: 'reject wins', at: at(3) };
      const resolved = await store.conflicts.resolve(ids[1]!, resolution);
      assert.equal(resolved!.status, 'resolved');
      assert.deepEqual(resolved!.resolution, resolution);
      assert.ok(resolved!.resolvedAt);
      assert.equal(await other.conflicts.resolve(ids[1]!, { outcome: 'approved' }), null, 'resolved once');

      const open = await store.conflicts.list({ changeId, status: 'open' }, { limit: 10 });
      assert.deepEqual(open.items.map((x) => x.id).sort(), [ids[0], ids[2]].sort());
      const p1 = await store.conflicts.list({ changeId }, { limit: 2 });
      const p2 = await store.conflicts.list({ changeId }, { limit: 2, cursor: p1.next });
      assert.equal(p2.next, null);
      assert.deepEqual([...p1.items, ...p2.items].map((x) => x.id).sort(), [...ids].sort());
    });

    test('conflicts: of concurrent resolutions exactly one is recorded', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const id = uid('cf');
        await store.conflicts.create({ id, changeId: uid('chg'), kind: 'decision', versions: [] });
        const results = await Promise.all(Array.from({ length: 6 }, (_, i) =>
          (i % 2 ? other : store).conflicts.resolve(id, { outcome: i % 3 ? 'approved' : 'rejected', by: `person-${i}` })));
        const winners = results.filter((r) => r !== null);
        assert.equal(winners.length, 1, `round ${round}`);
        assert.deepEqual(await store.conflicts.get(id), winners[0]);
      }
    });

    // ------------------------------------------------------------ audit
    test('audit: appends form a chain that scan, head and listForChange return', async () => {
      const t = storeTargets().find((x) => x.name === target.name)!;
      const fresh = await openStore(t.url);
      try {
        assert.equal(await fresh.audit.head(), null);
        const entry = (i: number) => ({
          changeId: i % 2 ? 'chg-odd' : 'chg-even', action: 'state', actor: 'alice@example.com', sourceTool: 'hub', at: at(i),
          before: { state: 'pending-approval' }, after: { state: 'approved', n: i }, rationale: i === 1 ? 'CAB ok' : null, correlation: null,
        });
        const a = await fresh.audit.append(entry(1));
        const b = await fresh.audit.append(entry(2));
        const c = await fresh.audit.append(entry(3));
        assert.deepEqual([a.seq, b.seq, c.seq], [1, 2, 3]);
        assert.equal(a.prevHash, '0'.repeat(64));
        assert.equal(b.prevHash, a.hash);
        assert.equal(c.prevHash, b.hash);
        assert.match(a.hash, /^[0-9a-f]{64}$/);
        assert.deepEqual(await fresh.audit.head(), c);
        const all: unknown[] = [];
        for await (const x of fresh.audit.scan()) all.push(x);
        assert.deepEqual(all, [a, b, c]);
        const tail: unknown[] = [];
        for await (const x of fresh.audit.scan(1)) tail.push(x);
        assert.deepEqual(tail, [b, c]);
        assert.deepEqual(await fresh.audit.listForChange('chg-odd'), [a, c]);
        assert.equal(a.rationale, 'CAB ok');
        assert.deepEqual(a.after, { state: 'approved', n: 1 });
      } finally {
        await fresh.close();
        await t.cleanup();
      }
    });

    test('audit: concurrent appends from two store instances never fork the chain', async () => {
      const t = storeTargets().find((x) => x.name === target.name)!;
      const a = await openStore(t.url);
      const b = await openStore(t.url);
      try {
        const entry = (i: number) => ({ changeId: null, action: 'escalation', actor: 'system', sourceTool: 'hub', at: at(i), before: null, after: { i }, rationale: null, correlation: `req-${i}` });
        const appended = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? b : a).audit.append(entry(i))));
        assert.deepEqual(appended.map((x) => x.seq).sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i + 1));
        const report = await verifyChain(a.audit.scan());
        assert.equal(report.ok, true, JSON.stringify(report.problems));
        assert.equal(report.checked, 30);
      } finally {
        await a.close();
        await b.close();
        await t.cleanup();
      }
    });

    // ------------------------------------------------------------ tokens
    test('tokens: create, find by hash, list, revoke by name or id', async () => {
      const name = uid('ci-bot');
      const hash = randomUUID().replaceAll('-', '').padEnd(64, 'a');
      const tok = await store.tokens.create({ id: uid('tok'), name, hash, roles: ['integration', 'viewer'], actor: 'ci@example.com' });
      assert.equal(tok.revokedAt, null);
      assert.deepEqual(tok.roles, ['integration', 'viewer']);
      assert.deepEqual(await other.tokens.findByHash(hash), tok);
      assert.equal(await store.tokens.findByHash('f'.repeat(64)), null);
      await assert.rejects(store.tokens.create({ id: uid('tok'), name: 'dup', hash, roles: ['viewer'], actor: 'x' }), StoreConflictError);
      assert.ok((await store.tokens.list()).some((x) => x.id === tok.id));

      assert.equal(await store.tokens.revoke(name), true);
      assert.ok((await store.tokens.findByHash(hash))!.revokedAt);
      assert.equal(await store.tokens.revoke(name), false, 'already revoked');
      const second = await store.tokens.create({ id: uid('tok'), name: uid('n'), hash: randomUUID().replaceAll('-', '').padEnd(64, 'b'), roles: ['admin'], actor: 'root' });
      assert.equal(await other.tokens.revoke(second.id), true);
      assert.equal(await store.tokens.revoke(uid('nobody')), false);
    });

    // ------------------------------------------------------------ cursors and ticks
    test('cursors: get is null until set; set overwrites', async () => {
      const conn = uid('servicenow');
      assert.equal(await store.cursors.get(conn, 'change_request'), null);
      await store.cursors.set(conn, 'change_request', '2026-11-24 10:00:00');
      await other.cursors.set(conn, 'change_request', '2026-11-24 10:05:00');
      await store.cursors.set(conn, 'incident', 'x');
      assert.equal(await store.cursors.get(conn, 'change_request'), '2026-11-24 10:05:00');
      assert.equal(await other.cursors.get(conn, 'incident'), 'x');
    });

    test('ticks: of concurrent claims of one tick exactly one wins', async () => {
      const schedule = `reconcile:${uid('servicenow')}`;
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).ticks.claim(schedule, '2026-11-24T14:05:00Z', `hub-${i}`)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await store.ticks.claim(schedule, '2026-11-24T14:10:00Z', 'hub-0'), true, 'the next tick is free');
      assert.equal(await other.ticks.claim(schedule, '2026-11-24T14:10:00Z', 'hub-1'), false);
    });
  });
}

describe('openStore', () => {
  test('refuses a URL that names no known store, without echoing a password', async () => {
    await assert.rejects(openStore('postgres://admin:s3cret@db/hub'), (err: Error) =>
      err instanceof StoreInputError && /neither sqlite:<path> nor mongodb/.test(err.message) && !err.message.includes('s3cret'));
    await assert.rejects(openStore('sqlite:'), /needs a file path/);
  });

  test('sqlite accepts synchronous=normal and refuses unknown options', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-store-opts-'));
    try {
      const s = await openStore(`sqlite:${join(dir, 'nested', 'hub.db')}?synchronous=normal`);
      await s.cursors.set('github', 'deliveries', 'x');
      assert.equal(await s.cursors.get('github', 'deliveries'), 'x');
      await s.close();
      await assert.rejects(openStore(`sqlite:${join(dir, 'hub.db')}?synchronous=off`), /synchronous must be deliveries, full or normal, got "off"/);
      await assert.rejects(openStore(`sqlite:${join(dir, 'hub.db')}?journal=memory`), /unknown sqlite option "journal"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('sqlite::memory: opens an empty private store', async () => {
    const s = await openStore('sqlite::memory:');
    try {
      assert.equal(await s.changes.get('x'), null);
      assert.equal(await s.audit.head(), null);
    } finally {
      await s.close();
    }
  });
});
