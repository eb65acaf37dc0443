// A running hub picks up edited policy and mapping files: the next change uses a valid edit; a broken edit
// is refused, the previous version keeps working, and /readyz says "reload refused" with file:line reasons.
// In-process hub from test/pipeline/harness.ts (real store, queue, pipeline, HTTP app, fake vendors), with
// its policy, directory and mappings copied to a temp folder an operator can edit.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, startHub, waitFor, type PipelineHub } from '../pipeline/harness.ts';

const repo = join(import.meta.dirname, '..', '..');

function saveLikeAnEditor(file: string, from: string, to: string): void {
  const text = readFileSync(file, 'utf8');
  assert.ok(text.includes(from), `${file} should contain ${from}`);
  writeFileSync(`${file}.tmp`, text.replace(from, to));
  renameSync(`${file}.tmp`, file);
}

// Four services: the blast-radius factor gives 15 points, low or medium (peak hours) with the shipped
// tiers, high once the high threshold drops to 10.
const change = (title: string) => ({
  title,
  environment: 'staging',
  team: 'payments',
  services: ['payments-api', 'ledger', 'refunds', 'fx-rates'],
  rollback: { plan: 'Redeploy the previous tag', complexity: 'low' },
});

type Readyz = { status: string; checks: { pipeline: { reload: { ok: boolean; message?: string; errors?: string[]; inForceSince: string; lastReloadAt?: string | null; refusedAt?: string } } } };

describe('hot reload in a running hub', () => {
  let hub: PipelineHub;
  let ci: string;
  const dir = mkdtempSync(join(tmpdir(), 'reload-hub-'));
  const policy = join(dir, 'config', 'policy.yaml');
  const mappings = join(dir, 'mappings');
  const readyz = async () => {
    const r = await hub.app.inject({ method: 'GET', url: '/readyz' });
    return { code: r.statusCode, body: JSON.parse(r.body) as Readyz };
  };
  before(async () => {
    cpSync(join(repo, 'config'), join(dir, 'config'), { recursive: true });
    cpSync(join(repo, 'mappings'), mappings, { recursive: true });
    hub = await startHub({ configPatch: (c) => ({ ...c, policy, directory: join(dir, 'config', 'directory.yaml'), mappingsDir: mappings }) });
    ci = await hub.token(['integration'], 'ci@acme.example');
  });
  after(() => hub.close());

  test('a lowered tier threshold is used for the next change once the file is saved', async () => {
    const first = await api(hub, ci, 'POST', '/api/v1/changes', change('Batch refunds'));
    assert.equal(first.status, 201, JSON.stringify(first.json));
    assert.deepEqual(first.json.steps.map((s: { name: string }) => s.name), ['Peer approval']);
    const before = (await readyz()).body.checks.pipeline.reload;

    saveLikeAnEditor(policy, 'tiers: { low: 0, medium: 30, high: 60 }', 'tiers: { low: 0, medium: 5, high: 10 }');
    const applied = await waitFor('the edit to be applied', async () => {
      const r = (await readyz()).body.checks.pipeline.reload;
      return r.ok && r.inForceSince !== before.inForceSince ? r : null;
    });
    assert.equal(applied.lastReloadAt, applied.inForceSince);

    const next = await api(hub, ci, 'POST', '/api/v1/changes', change('Batch refunds, part two'));
    assert.equal(next.status, 201, JSON.stringify(next.json));
    assert.equal(next.json.risk.tier, 'high');
    assert.deepEqual(next.json.steps.map((s: { name: string }) => s.name), ['Technical lead', 'Operations manager', 'CAB']);
    assert.match(hub.logs(), /reload applied: policy, directory and mappings now in force/);
  });

  test('an unknown canonical field in a mapping is refused with file and line; the hub keeps the previous mappings', async () => {
    const file = join(mappings, 'servicenow', 'change_request.yaml');
    const line = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.startsWith('  description: description')) + 1;
    saveLikeAnEditor(file, '  description: description\n', '  descripton: description\n');
    const refused = await waitFor('the refusal in /readyz', async () => {
      const r = await readyz();
      return r.body.checks.pipeline.reload.ok === false ? r : null;
    });
    // Still ready: the hub runs on the version it had.
    assert.equal(refused.code, 200);
    assert.notEqual(refused.body.status, 'not-ready');
    const reload = refused.body.checks.pipeline.reload;
    assert.match(reload.message!, /^reload refused: 1 problem in the edited files; the version loaded at .* stays in force$/);
    assert.equal(reload.errors!.length, 1);
    assert.match(reload.errors![0]!, new RegExp(`servicenow/change_request\\.yaml:${line}: connection servicenow: .*descripton`));
    const logged = hub.logs().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg?: string; errors?: string[]; level?: number }).find((l) => l.msg?.startsWith('reload refused'));
    assert.ok(logged, 'the refusal is logged');
    assert.equal(logged.level, 50);
    assert.deepEqual(logged.errors, reload.errors);

    // The previous mappings and policy still work end to end: the ServiceNow record is opened.
    const r = await api(hub, ci, 'POST', '/api/v1/changes', change('Rotate ledger keys'));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.risk.tier, 'high', 'the policy applied before the refused edit is still in force');
    const record = await waitFor('the ServiceNow change_request', () => [...hub.sn.tables.get('change_request')!.values()].find((x) => x.correlation_id === r.json.id));
    assert.equal(record.short_description, 'Rotate ledger keys');

    // Fixing the file clears the refusal.
    saveLikeAnEditor(file, '  descripton: description\n', '  description: description\n');
    await waitFor('the fixed file to be applied', async () => (await readyz()).body.checks.pipeline.reload.ok);
  });

  test('a reload swaps the whole context at once and keeps each connection\'s client, circuit and sync time', async () => {
    const before = await hub.pipeline.context();
    const status = await hub.pipeline.reload();
    assert.equal(status.ok, true);
    const after = await hub.pipeline.context();
    assert.notEqual(after, before, 'a new context object, swapped in one step');
    assert.notEqual(after.policy, before.policy);
    const [was, now] = [before.connections.get('servicenow')!, after.connections.get('servicenow')!];
    assert.notEqual(now.normalize, was.normalize, 'the mappings were reloaded');
    assert.equal(now.http, was.http);
    assert.equal(now.breaker, was.breaker);
    // A job that started on the old context still records its sync where /readyz reads it.
    was.lastSync = '2026-01-02T03:04:05.000Z';
    assert.equal(now.lastSync, '2026-01-02T03:04:05.000Z');
    const ready = await hub.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(JSON.parse(ready.body).checks.pipeline.connections.servicenow.lastSync >= '2026-01-02T03:04:05.000Z', true);
  });

  test('a CEL syntax error in the policy is refused through pipeline.reload(), naming file and line', async () => {
    saveLikeAnEditor(policy, `when: "change.environment == 'production'", points: 30`, `when: "change.environment === 'production'", points: 30`);
    const status = await hub.pipeline.reload();
    assert.equal(status.ok, false);
    if (status.ok) return;
    assert.match(status.errors.join('\n'), /config\/policy\.yaml:10: risk\.factors\[0\]\.when: /);
    const r = await api(hub, ci, 'POST', '/api/v1/changes', change('Retry payouts'));
    assert.equal(r.json.risk.tier, 'high');
    saveLikeAnEditor(policy, `when: "change.environment === 'production'", points: 30`, `when: "change.environment == 'production'", points: 30`);
    assert.equal((await hub.pipeline.reload()).ok, true);
  });
});
