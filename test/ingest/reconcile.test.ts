// Scheduled reconciliation against a fake ServiceNow (Table API with Link-header paging): records
// changed in ServiceNow while no webhook arrived reach the hub; later runs read only what changed since
// the stored cursor; a schedule tick runs once across processes sharing a store.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import type { HubConfig } from '../../src/config/types.ts';
import { createLogger } from '../../src/log.ts';
import { createPipeline, type Pipeline } from '../../src/pipeline/index.ts';
import { createReconciler } from '../../src/pipeline/reconcile.ts';
import { openQueue } from '../../src/queue/index.ts';
import type { Queue } from '../../src/queue/port.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store, Transition } from '../../src/store/port.ts';
import { startFakeServiceNow, type FakeServiceNow } from '../fakes/servicenow.ts';
import { e2ePolicyFiles, repoRoot, waitFor } from '../support/hub-process.ts';

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

interface Setup {
  dir: string;
  config: HubConfig;
  sn: FakeServiceNow;
  clock: { ms: number };
  close(): Promise<void>;
}

async function setup(cron = '0 0 1 1 *'): Promise<Setup> {
  const clock = { ms: Date.parse('2026-11-24T09:00:00Z') };
  const sn = await startFakeServiceNow({ now: () => clock.ms, enforceStateModel: false });
  const dir = mkdtempSync(join(tmpdir(), 'hub-reconcile-'));
  for (const [name, text] of Object.entries(e2ePolicyFiles)) writeFileSync(join(dir, name), text);
  writeFileSync(
    join(dir, 'hub.yaml'),
    [
      'store: sqlite:./hub.db',
      `mappingsDir: ${join(repoRoot, 'mappings')}`,
      'connections:',
      '  - id: deploy-tool',
      '    connector: generic',
      '    webhook: { secret: "${env:DEPLOY_SECRET}" }',
      '  - id: servicenow-prod',
      '    connector: servicenow',
      `    baseUrl: ${sn.url}`,
      '    auth: { type: basic, username: hub.integration, password: "${env:SN_PASSWORD}" }',
      '    webhook: { secret: "${env:SN_SECRET}" }',
      `    reconcile: { cron: "${cron}" }`,
      '    options: { reconcileLookbackMinutes: 1440 }',
      '',
    ].join('\n'),
  );
  const config = loadConfig({ file: join(dir, 'hub.yaml'), env: { SN_PASSWORD: 'hub-password', SN_SECRET: 'sn-secret', DEPLOY_SECRET: 'whsec_c2VjcmV0' } });
  return {
    dir,
    config,
    sn,
    clock,
    async close() {
      await sn.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function reconcileEntries(store: Store): Promise<Transition[]> {
  const out: Transition[] = [];
  for await (const t of store.audit.scan()) if (t.action === 'reconcile') out.push(t);
  return out;
}

describe('reconciliation runs', () => {
  let s: Setup;
  let store: Store;
  let queue: Queue;
  let pipeline: Pipeline;
  before(async () => {
    s = await setup();
    store = await openStore(s.config.store);
    queue = await openQueue('embedded', { sqlitePath: join(s.dir, 'queue.db') });
    pipeline = createPipeline({ config: s.config, store, queue, log: quiet, now: () => new Date(s.clock.ms) });
  });
  after(async () => {
    await pipeline.stop();
    await queue.close();
    await store.close();
    await s.close();
  });

  /** A person edits the change in ServiceNow (Table API PATCH); the webhook that should follow is lost. */
  async function editInServiceNow(sysId: string, fields: Record<string, string>): Promise<void> {
    const res = await fetch(`${s.sn.url}/api/now/table/change_request/${sysId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('hub.integration:hub-password').toString('base64')}` },
      body: JSON.stringify(fields),
    });
    assert.equal(res.status, 200, await res.text());
  }

  let x: Record<string, string>;
  let changeId: string;

  it('repairs drift from a lost ServiceNow webhook and says so in the audit log', async () => {
    // A deployment's change, linked to ServiceNow change X; Y is a ServiceNow change the hub does not track.
    x = s.sn.createChange({ short_description: 'Patch the payment gateway' });
    s.sn.createChange({ short_description: 'Unrelated change' });
    await pipeline.handleEvents(
      'deploy-tool',
      [{
        type: 'change.requested',
        change: { title: 'Patch the payment gateway', type: 'standard', environment: 'staging', requester: 'dev@example.com' },
        link: { kind: 'deployment', externalId: 'deploy-42' },
        relatedLinks: [{ kind: 'change_request', externalId: x.sys_id!, data: { connection: 'servicenow-prod' } }],
      }],
      { correlation: null },
    );
    const link = await store.links.find('servicenow-prod', 'change_request', x.sys_id!);
    assert.ok(link, 'the hub change is linked to ServiceNow change X');
    changeId = link.changeId;
    assert.equal((await store.changes.get(changeId))?.state, 'approved');

    s.clock.ms += 60_000;
    await editInServiceNow(x.sys_id!, { state: '-1' }); // Implement
    const xUpdated = s.sn.record('change_request', x.sys_id!)!.sys_updated_on;

    const reconciler = createReconciler({ config: s.config, store, queue, log: quiet, handleEvents: pipeline.handleEvents, now: () => new Date(s.clock.ms) });
    try {
      const report = await reconciler.runOnce('servicenow-prod');
      assert.equal(report.events, 2, 'X and Y were read');
      assert.equal(report.cursorBefore, null);
      assert.equal(report.cursorAfter, xUpdated, 'the cursor is the newest sys_updated_on read');
      assert.equal((await store.changes.get(changeId))?.state, 'implementing', 'the state set in ServiceNow reached the hub');

      const [entry] = await reconcileEntries(store);
      assert.ok(entry, 'a reconcile audit entry');
      assert.equal(entry.actor, 'system');
      assert.equal(entry.sourceTool, 'servicenow');
      assert.equal(entry.correlation, report.runId);
      assert.deepEqual(entry.after, { cursor: xUpdated!, pages: report.pages, events: 2, tick: null });
      assert.match(entry.rationale ?? '', /found 2 changed record/);
      const transitions = await store.audit.listForChange(changeId);
      assert.ok(transitions.some((t) => t.correlation === report.runId), 'the repair itself is audited under the run id');
      // The change's own trail says why the state arrived late: one entry, after the repair, naming the connection.
      const repaired = transitions.filter((t) => t.action === 'drift-repaired');
      assert.equal(repaired.length, 1, transitions.map((t) => `${t.seq} ${t.action}`).join('\n'));
      assert.equal(repaired[0]!.changeId, changeId);
      assert.equal(repaired[0]!.actor, 'system');
      assert.equal(repaired[0]!.sourceTool, 'servicenow');
      assert.equal(repaired[0]!.correlation, report.runId);
      assert.match(repaired[0]!.rationale ?? '', /^drift repaired by reconciliation of connection servicenow-prod: .*state/);
      assert.ok(repaired[0]!.seq > Math.max(...transitions.filter((t) => t.action === 'state' && t.correlation === report.runId).map((t) => t.seq)), 'written after the repair');
      // Y is not the hub's: nothing is written for it, and nothing else got an entry.
      let all = 0;
      for await (const t of store.audit.scan()) if (t.action === 'drift-repaired') all++;
      assert.equal(all, 1);
      const last = await reconciler.lastSync('servicenow-prod');
      assert.equal(last?.runId, report.runId);
      assert.equal(last?.events, 2);
    } finally {
      await reconciler.stop();
    }
  });

  it('reads only records changed since the stored cursor on the next run', async () => {
    const read: string[] = [];
    const reconciler = createReconciler({
      config: s.config,
      store,
      queue,
      log: quiet,
      handleEvents: (connectionId, events, opts) => {
        read.push(...events.map((e) => e.link.externalId));
        return pipeline.handleEvents(connectionId, events, opts);
      },
      now: () => new Date(s.clock.ms),
    });
    try {
      const cursor = await store.cursors.get('servicenow-prod', 'reconcile');
      assert.ok(cursor, 'the previous run left a cursor');
      s.clock.ms += 3600_000;
      const z = s.sn.createChange({ short_description: 'Resize the orders database' });
      const before = s.sn.calls.length;
      const report = await reconciler.runOnce('servicenow-prod');
      const queries = s.sn.calls.slice(before).map((call) => call.query.get('sysparm_query') ?? '');
      assert.ok(queries.length > 0 && queries.every((q) => q.includes(`sys_updated_on>=${cursor}`)), `queries start at the cursor: ${queries.join(' | ')}`);
      // ServiceNow's >= reads the boundary second again (X, updated at the cursor); Y, older, is not read.
      assert.deepEqual(read.sort(), [x.sys_id!, z.sys_id!].sort());
      assert.equal(report.events, 2);
      assert.equal(report.cursorAfter, z.sys_updated_on);
      // X was read again but nothing about it had drifted: no repair is claimed on its trail.
      const repairs = (await store.audit.listForChange(changeId)).filter((t) => t.action === 'drift-repaired');
      assert.deepEqual(repairs.map((t) => t.correlation), [(await reconcileEntries(store))[0]!.correlation]);
    } finally {
      await reconciler.stop();
    }
  });
});

describe('reconciliation schedule', () => {
  it('runs each tick once across two processes sharing the store', { timeout: 60_000 }, async () => {
    // Every second (six-field cron): two schedulers race for each tick.
    const s = await setup('* * * * * *');
    s.clock.ms = Date.now();
    s.sn.createChange({ short_description: 'A change to find on every run' });
    const stores = [await openStore(s.config.store), await openStore(s.config.store)];
    const queues = [await openQueue('embedded', { sqlitePath: join(s.dir, 'queue-a.db') }), await openQueue('embedded', { sqlitePath: join(s.dir, 'queue-b.db') })];
    const pipelines = stores.map((store, i) => createPipeline({ config: s.config, store, queue: queues[i]!, log: quiet }));
    const reconcilers = stores.map((store, i) =>
      createReconciler({ config: s.config, store, queue: queues[i]!, log: quiet, handleEvents: pipelines[i]!.handleEvents, owner: `process-${i}` }),
    );
    try {
      await Promise.all(reconcilers.map((r) => r.start()));
      await waitFor('five reconciliation runs', async () => ((await reconcileEntries(stores[0]!)).length >= 5 ? true : null), 30_000);
      await Promise.all(reconcilers.map((r) => r.stop()));
      const entries = await reconcileEntries(stores[0]!);
      const ticks = entries.map((e) => (e.after as { tick: string }).tick);
      assert.ok(ticks.every((t) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(t)), `every run names its tick: ${ticks.join(', ')}`);
      assert.equal(new Set(ticks).size, ticks.length, `one run per tick: ${ticks.join(', ')}`);
    } finally {
      await Promise.all(reconcilers.map((r) => r.stop()));
      for (const p of pipelines) await p.stop();
      for (const q of queues) await q.close();
      for (const st of stores) await st.close();
      await s.close();
    }
  });
});
