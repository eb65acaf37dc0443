// The SQLite store's group commit (src/store/sqlite/db.ts): writes requested in the same turn of the
// event loop share one commit, yet each succeeds or fails on its own, and none is reported done before
// its commit. Observed through the store's public surface and a second connection to the same file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import { openStore } from '../../../src/store/index.ts';
import { StoreConflictError, type Store } from '../../../src/store/port.ts';

const change = (id: string) => ({ id, state: 'draft', tier: null, team: 'payments', environment: 'staging', type: 'standard', data: { title: `Deploy ${id}` } });

let dir: string;
let store: Store;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
  store = await openStore(`sqlite:${join(dir, 'hub.db')}`);
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a write that fails in a shared commit is refused alone; the others are stored', async () => {
  await store.changes.create(change('chg-taken'));
  const results = await Promise.allSettled([
    store.changes.create(change('chg-first')),
    store.changes.create(change('chg-taken')),
    store.links.upsert({ changeId: 'chg-first', connectionId: 'github', kind: 'deployment', externalId: 'd-1', url: null, versionSeen: null, data: {} }),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.ok((results[1] as PromiseRejectedResult).reason instanceof StoreConflictError);
  assert.equal((await store.changes.get('chg-first'))?.state, 'draft');
  assert.equal((await store.links.find('github', 'deployment', 'd-1'))?.changeId, 'chg-first');
});

test('a write is visible to another connection once it is reported done', async () => {
  const other = new DatabaseSync(join(dir, 'hub.db'), { readOnly: true });
  try {
    const stored = store.changes.create(change('chg-seen'));
    // Requested, not yet committed: the group commit runs on a later turn of the event loop.
    assert.equal(other.prepare('SELECT 1 FROM changes WHERE id = ?').get('chg-seen'), undefined);
    await stored;
    assert.ok(other.prepare('SELECT 1 FROM changes WHERE id = ?').get('chg-seen'));
  } finally {
    other.close();
  }
});

test('audit entries appended in one turn keep the order they were requested in', async () => {
  const head = await store.audit.head();
  const entries = ['submitted', 'risk-scored', 'plan-built'].map((action) => ({
    changeId: 'chg-first', action, actor: 'deployer', sourceTool: 'github', at: new Date().toISOString(), before: null, after: null, rationale: null, correlation: 'dlv-1',
  }));
  const appended = await Promise.all(entries.map((e) => store.audit.append(e)));
  assert.deepEqual(appended.map((t) => t.seq), [1, 2, 3].map((n) => (head?.seq ?? 0) + n));
  assert.deepEqual((await store.audit.listForChange('chg-first')).map((t) => t.action), ['submitted', 'risk-scored', 'plan-built']);
});
