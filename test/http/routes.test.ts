// The read API as a viewer or auditor sees it: changes with filters and pages, one change with its
// links, its transitions, the audit verify report, and the configured connections with their health.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.ts';
import { repoFiles, testHub, type TestHub } from './helpers.ts';

const at = (minute: number) => `2026-11-24T10:${String(minute).padStart(2, '0')}:00.000Z`;

describe('changes', () => {
  let hub: TestHub;
  let auth: { authorization: string };
  before(async () => {
    hub = await testHub();
    auth = { authorization: `Bearer ${await hub.token(['viewer'])}` };
    const rows = [
      { id: 'chg-1', state: 'pending-approval', tier: 'high', team: 'payments', title: 'Rotate DB credentials' },
      { id: 'chg-2', state: 'approved', tier: 'low', team: 'payments', title: 'Bump logging library' },
      { id: 'chg-3', state: 'pending-approval', tier: 'high', team: 'search', title: 'Reindex catalogue' },
      { id: 'chg-4', state: 'rejected', tier: 'low', team: 'identity', title: 'Drop legacy sessions' },
    ];
    for (const [i, r] of rows.entries()) {
      await hub.store.changes.create({ ...r, environment: 'production', type: 'normal', createdAt: at(i), data: { id: r.id, title: r.title, state: r.state, steps: [] } });
    }
    await hub.store.links.upsert({
      changeId: 'chg-1', connectionId: 'servicenow-prod', kind: 'change_request', externalId: 'a1b2c3', url: 'https://acme.service-now.com/change_request.do?sys_id=a1b2c3',
      versionSeen: '2026-11-24 10:05:00', data: { callbackToken: 'not-for-api-readers' },
    });
    await hub.store.audit.append({ changeId: 'chg-1', action: 'state', actor: 'system', sourceTool: 'hub', at: at(1), before: null, after: 'pending-approval', rationale: null, correlation: 'dlv-1' });
    await hub.store.audit.append({ changeId: 'chg-2', action: 'state', actor: 'system', sourceTool: 'hub', at: at(2), before: null, after: 'approved', rationale: null, correlation: null });
    await hub.store.audit.append({
      changeId: 'chg-4', action: 'state:rejected', actor: 'hub', sourceTool: 'hub', at: at(4), before: { state: 'draft' }, after: { state: 'rejected' },
      rationale: 'Auto-rejected: a rollback plan is required [rollback-plan]', correlation: 'req-4',
    });
  });
  after(() => hub.close());

  const list = async (query: string) => {
    const res = await hub.app.inject({ url: `/api/v1/changes${query}`, headers: auth });
    assert.equal(res.statusCode, 200, res.body);
    return JSON.parse(res.body) as { items: { id: string; title: string | null; state: string }[]; next: string | null };
  };

  test('filters by state, tier and team', async () => {
    assert.deepEqual((await list('?state=pending-approval')).items.map((c) => c.id).sort(), ['chg-1', 'chg-3']);
    assert.deepEqual((await list('?tier=high&team=payments')).items.map((c) => c.id), ['chg-1']);
    assert.deepEqual((await list('?team=nobody')).items, []);
  });

  test('filters by since and refuses a since that is not a time', async () => {
    const future = await list('?since=2099-01-01T00:00:00Z');
    assert.deepEqual(future.items, []);
    const res = await hub.app.inject({ url: '/api/v1/changes?since=yesterday', headers: auth });
    assert.equal(res.statusCode, 400);
    assert.equal(JSON.parse(res.body).field, 'since');
  });

  test('pages with a cursor until next is null, each change once', async () => {
    const seen: string[] = [];
    let query = '?limit=2';
    for (let pages = 0; pages < 5; pages++) {
      const page = await list(query);
      seen.push(...page.items.map((c) => c.id));
      if (!page.next) break;
      query = `?limit=2&cursor=${encodeURIComponent(page.next)}`;
    }
    assert.deepEqual(seen.sort(), ['chg-1', 'chg-2', 'chg-3', 'chg-4']);
  });

  test('list items are the one change representation without links and stateChange', async () => {
    const item = (await list('?team=search')).items[0]!;
    const { links: _links, stateChange: _stateChange, ...one } = JSON.parse((await hub.app.inject({ url: '/api/v1/changes/chg-3', headers: auth })).body);
    assert.deepEqual(item, one);
    assert.equal(item.title, 'Reindex catalogue');
  });

  test('one change comes with its links, without connector-private link data', async () => {
    const res = await hub.app.inject({ url: '/api/v1/changes/chg-1', headers: auth });
    assert.equal(res.statusCode, 200);
    const body = JSON.parse(res.body);
    assert.equal(body.id, 'chg-1');
    assert.equal(body.title, 'Rotate DB credentials');
    assert.equal(body.state, 'pending-approval');
    assert.deepEqual(body.steps, []);
    assert.equal(body.links.length, 1);
    assert.equal(body.links[0].externalId, 'a1b2c3');
    assert.equal(body.links[0].url, 'https://acme.service-now.com/change_request.do?sys_id=a1b2c3');
    assert.ok(!res.body.includes('not-for-api-readers'));
  });

  test('a rejected change says why, and who decided, from its state transition', async () => {
    const res = await hub.app.inject({ url: '/api/v1/changes/chg-4', headers: auth });
    const body = JSON.parse(res.body);
    assert.equal(body.state, 'rejected');
    assert.deepEqual(body.stateChange, {
      from: 'draft', to: 'rejected', reason: 'Auto-rejected: a rollback plan is required [rollback-plan]', actor: 'hub', sourceTool: 'hub', at: at(4),
    });
  });

  test('an unknown change is a 404 problem', async () => {
    const res = await hub.app.inject({ url: '/api/v1/changes/chg-404', headers: auth });
    assert.equal(res.statusCode, 404);
    assert.equal(JSON.parse(res.body).code, 'change-not-found');
    assert.equal((await hub.app.inject({ url: '/api/v1/changes/chg-404/transitions', headers: auth })).statusCode, 404);
  });

  test('transitions of one change, with their hashes', async () => {
    const res = await hub.app.inject({ url: '/api/v1/changes/chg-1/transitions', headers: auth });
    assert.equal(res.statusCode, 200);
    const items = JSON.parse(res.body).items;
    assert.equal(items.length, 1);
    assert.equal(items[0].after, 'pending-approval');
    assert.equal(items[0].correlation, 'dlv-1');
    assert.match(items[0].hash, /^[0-9a-f]{64}$/);
  });

  test('audit verify: the chain verifies for an auditor, and a wrong checkpoint is reported', async () => {
    const auditor = { authorization: `Bearer ${await hub.token(['auditor'])}` };
    const ok = JSON.parse((await hub.app.inject({ url: '/api/v1/audit/verify', headers: auditor })).body);
    assert.equal(ok.ok, true);
    assert.equal(ok.checked, 3);
    assert.equal(ok.head.seq, 3);
    const res = await hub.app.inject({ url: `/api/v1/audit/verify?checkpointSeq=2&checkpointHash=${'a'.repeat(64)}`, headers: auditor });
    const bad = JSON.parse(res.body);
    assert.equal(bad.ok, false);
    assert.equal(bad.problems[0].seq, 2);
    const half = await hub.app.inject({ url: '/api/v1/audit/verify?checkpointSeq=2', headers: auditor });
    assert.equal(half.statusCode, 400);
  });
});

describe('connections and secrets', () => {
  const yaml = `store: "sqlite::memory:"
${repoFiles}publicUrl: https://hub.example.com
connections:
  - id: servicenow-prod
    connector: servicenow
    baseUrl: https://acme.service-now.com
    auth: { type: basic, username: svc-hub, password: "\${env:SN_PASSWORD}" }
    webhook: { secret: "\${env:SN_WEBHOOK_SECRET}" }
    reconcile: { cron: "*/5 * * * *" }
    rateLimit: { perSecond: 10 }
`;
  const env = { SN_PASSWORD: 'pw-7f3a9-never-shown', SN_WEBHOOK_SECRET: 'whsec-91c2-never-shown' };
  let hub: TestHub;
  before(async () => {
    hub = await testHub({
      yaml,
      env,
      health: async () => ({ status: 'degraded', connections: { 'servicenow-prod': { circuit: 'open', lastSync: at(3) } }, queue: { outbound: { waiting: 4, running: 0, dead: 0 } } }),
    });
  });
  after(() => hub.close());

  test('GET /api/v1/connections lists each connection with its webhook URL and the pipeline\'s health', async () => {
    const res = await hub.app.inject({ url: '/api/v1/connections', headers: { authorization: `Bearer ${await hub.token(['viewer'])}` } });
    assert.equal(res.statusCode, 200);
    const body = JSON.parse(res.body);
    assert.deepEqual(body.items, [{
      id: 'servicenow-prod', connector: 'servicenow', baseUrl: 'https://acme.service-now.com', webhookUrl: 'https://hub.example.com/webhooks/servicenow-prod',
      mappings: {}, reconcile: { cron: '*/5 * * * *' }, rateLimit: { perSecond: 10 }, health: { circuit: 'open', lastSync: at(3) },
    }]);
    assert.deepEqual(body.queue, { outbound: { waiting: 4, running: 0, dead: 0 } });
  });

  test('/readyz reports degraded (still 200) when the pipeline says so', async () => {
    const res = await hub.app.inject({ url: '/readyz' });
    assert.equal(res.statusCode, 200);
    assert.equal(JSON.parse(res.body).status, 'degraded');
  });

  test('secrets never reach the API, the logs or the docs', async () => {
    const token = await hub.token(['admin']);
    const bodies: string[] = [];
    for (const url of ['/api/v1/connections', '/readyz', '/docs/json', '/api/v1/changes']) {
      bodies.push((await hub.app.inject({ url, headers: { authorization: `Bearer ${token}`, cookie: 'session=c00kie-value' } })).body);
    }
    // Code that logs a connection's settings (as the pipeline does on errors) prints [redacted].
    hub.app.log.info({ connection: hub.config.connections[0] }, 'connection settings');
    hub.app.log.info({ req: { headers: { authorization: `Bearer ${token}`, cookie: 'session=c00kie-value' } } }, 'a request with credentials');
    const logs = hub.logs();
    assert.match(logs, /connection settings/);
    assert.match(logs, /\[redacted\]/);
    for (const text of [...bodies, logs]) {
      for (const secret of [...Object.values(env), token, 'c00kie-value']) assert.ok(!text.includes(secret), `"${secret}" leaked`);
    }
  });
});

test('the logger redacts credentials in headers and Secret values on its own', () => {
  let out = '';
  const log = createLogger({ level: 'info', destination: new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb(); } }) });
  log.info({ headers: { authorization: 'Bearer abc-token-123', 'x-hub-signature-256': 'sha256=deadbeef' }, password: 'p4ss' }, 'outbound call');
  assert.ok(!out.includes('abc-token-123') && !out.includes('deadbeef'), out);
  assert.equal(JSON.parse(out).headers.authorization, '[redacted]');
});
