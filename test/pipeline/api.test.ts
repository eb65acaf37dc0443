// The pipeline's API as its callers use it: a CI system requests a change and waits on a generic gate,
// approvers decide in the hub, an admin records an override only while ServiceNow is down, and an
// auditor reads a verified trail of every step with its actor and source tool.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, startHub, waitFor, type PipelineHub } from './harness.ts';

const change = (title: string, extra: Record<string, unknown> = {}) => ({
  title,
  environment: 'staging',
  team: 'payments',
  services: ['payments-api'],
  rollback: { plan: 'Redeploy the previous tag', complexity: 'low' },
  ...extra,
});

describe('API: changes, gates and decisions', () => {
  let hub: PipelineHub;
  let ci: string;
  let priya: string;
  before(async () => {
    hub = await startHub();
    hub.sn.addUser({ user_name: 'priya.natarajan', email: 'priya.natarajan@acme.example', name: 'Priya Natarajan' });
    ci = await hub.token(['integration'], 'ci@acme.example');
    priya = await hub.token(['approver'], 'priya.natarajan@acme.example');
  });
  after(() => hub.close());

  it('requests a change: plan built, approval opened in ServiceNow, the linked Jira issue told', async () => {
    const issue = hub.jira.createIssue({ summary: 'Refund batching' });
    const r = await api(hub, ci, 'POST', '/api/v1/changes', change('Enable refund batching', { links: [{ connectionId: 'jira', kind: 'issue', externalId: issue.key }] }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.state, 'pending-approval');
    assert.equal(r.json.requester, 'ci@acme.example');
    assert.deepEqual(r.json.steps.map((s: { name: string }) => s.name), ['Peer approval']);
    await waitFor('the ServiceNow change_request', () => [...hub.sn.tables.get('change_request')!.values()].find((x) => x.correlation_id === r.json.id));
    await waitFor('the Jira comment', () => hub.jira.issues.get(issue.key)!.comments.length > 0);
  });

  it('answers a retry with the same Idempotency-Key with the change created first', async () => {
    const body = change('Rotate signing keys');
    const first = await hub.app.inject({ method: 'POST', url: '/api/v1/changes', headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/json', 'idempotency-key': 'pipeline-991' }, payload: JSON.stringify(body) });
    const second = await hub.app.inject({ method: 'POST', url: '/api/v1/changes', headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/json', 'idempotency-key': 'pipeline-991' }, payload: JSON.stringify(body) });
    assert.equal(first.statusCode, 201);
    assert.equal(second.statusCode, 200);
    assert.equal(JSON.parse(second.body).id, JSON.parse(first.body).id);
  });

  it('refuses a change without a title, naming the field, and from a viewer', async () => {
    const { title: _t, ...untitled } = change('x');
    const r = await api(hub, ci, 'POST', '/api/v1/changes', untitled);
    assert.equal(r.status, 400);
    assert.equal(r.json.field, 'title');
    const viewer = await hub.token(['viewer']);
    assert.equal((await api(hub, viewer, 'POST', '/api/v1/changes', change('x'))).status, 403);
  });

  it('lets a CI system create a gate and poll it until the approver decides', async () => {
    const created = await api(hub, ci, 'POST', '/api/v1/gates', { change: change('Deploy ledger v2'), name: 'deploy ledger to staging', externalId: 'run-4411' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.state, 'pending');
    assert.match(created.json.reason, /waiting for Peer approval/);
    const again = await api(hub, ci, 'POST', '/api/v1/gates', { change: change('Deploy ledger v2'), externalId: 'run-4411' });
    assert.equal(again.status, 200);
    assert.equal(again.json.id, created.json.id);

    const decided = await api(hub, priya, 'POST', `/api/v1/changes/${created.json.changeId}/decisions`, { outcome: 'approve', rationale: 'Dry run was clean' });
    assert.equal(decided.status, 201, JSON.stringify(decided.json));
    const polled = await api(hub, ci, 'GET', `/api/v1/gates/${created.json.id}`);
    assert.equal(polled.status, 200);
    assert.equal(polled.json.state, 'approved');
    assert.match(polled.json.reason, /approved by priya.natarajan@acme.example in hub: Dry run was clean/);
    assert.equal((await api(hub, ci, 'GET', '/api/v1/gates/gate-unknown')).status, 404);
  });

  it('refuses a decision by someone the plan does not name, with the engine\'s reason', async () => {
    const created = await api(hub, ci, 'POST', '/api/v1/changes', change('Tune pool sizes'));
    const sam = await hub.token(['approver'], 'sam.rivera@acme.example');
    const r = await api(hub, sam, 'POST', `/api/v1/changes/${created.json.id}/decisions`, { outcome: 'approve' });
    assert.equal(r.status, 422);
    assert.match(r.json.detail, /sam.rivera@acme.example is not among the eligible approvers/);
  });

  it('refuses a decision by a token whose actor names nobody in the directory, saying where the actor is set', async () => {
    const created = await api(hub, ci, 'POST', '/api/v1/changes', change('Rotate pool credentials'));
    const nameless = await hub.token(['approver'], 'approvals-bot');
    const r = await api(hub, nameless, 'POST', `/api/v1/changes/${created.json.id}/decisions`, { outcome: 'approve' });
    assert.equal(r.status, 422);
    assert.match(r.json.detail, /approvals-bot is not in the directory .*\(approvals-bot is the actor of this API token: create the token with --actor /);
  });

  it('lists every step of a change with actor and source tool, and the audit chain verifies', async () => {
    const created = await api(hub, ci, 'POST', '/api/v1/changes', change('Raise refund limit'));
    // ServiceNow's approval engine asks Priya on the record the hub opened, so her decision in the hub
    // can be written to her approval there before the approved state is mirrored.
    const record = await waitFor('the ServiceNow change_request', () => [...hub.sn.tables.get('change_request')!.values()].find((x) => x.correlation_id === created.json.id));
    hub.sn.requestApproval(record.sys_id!, 'priya.natarajan');
    const decided = await api(hub, priya, 'POST', `/api/v1/changes/${created.json.id}/decisions`, { outcome: 'approve', rationale: 'Limit agreed with finance' });
    assert.equal(decided.status, 201, JSON.stringify(decided.json));
    // Every action, the decision's included (written to her approval, then the state), done; none failed.
    const jobs = await waitFor('the outbound actions', async () => {
      const all = await hub.store.jobs.listForChange(created.json.id);
      return all.some((j) => j.intent === 'servicenow.sync-state') && all.every((j) => j.status === 'done' || j.status === 'failed') ? all : null;
    });
    assert.deepEqual(jobs.filter((j) => j.status !== 'done').map((j) => `${j.intent}: ${j.error}`), []);
    assert.equal(hub.sn.approvalsFor(record.sys_id!)[0]?.state, 'approved', 'her approval in ServiceNow says so');
    const auditor = await hub.token(['auditor']);
    const trail = await api(hub, auditor, 'GET', `/api/v1/changes/${created.json.id}/transitions`);
    assert.equal(trail.status, 200);
    const items: { action: string; actor: string; sourceTool: string; correlation: string | null }[] = trail.json.items ?? trail.json;
    const steps = items.map((t) => `${t.action} ${t.actor} ${t.sourceTool}`);
    assert.ok(steps.includes('submitted ci@acme.example hub'));
    assert.ok(steps.includes('state:pending-approval ci@acme.example hub'));
    assert.ok(steps.includes('decision priya.natarajan@acme.example hub'));
    assert.ok(steps.includes('state:approved hub hub'));
    assert.ok(steps.includes('outbound system servicenow'), 'the ServiceNow record being opened is on the trail');
    assert.ok(items.every((t) => t.correlation), 'every entry names the request or delivery it came from');
    const verify = await api(hub, auditor, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.status, 200);
    assert.equal(verify.json.ok, true);
  });
});

describe('API: overrides while the system of record is down', () => {
  let hub: PipelineHub;
  before(async () => {
    hub = await startHub({ pipeline: { connectionOptions: { breaker: { failureThreshold: 3, openMs: 3_000 } } } });
  });
  after(() => hub.close());

  it('refuses an override while ServiceNow answers, accepts one with a justification while its circuit is open, and replays to ServiceNow afterwards', async () => {
    const ci = await hub.token(['integration'], 'ci@acme.example');
    // An override bypasses the system of record, not the policy: the admin must be an eligible approver.
    const admin = await hub.token(['admin'], 'priya.natarajan@acme.example');
    const first = await api(hub, ci, 'POST', '/api/v1/changes', { ...change('Hotfix fee rounding') });
    const refused = await api(hub, admin, 'POST', `/api/v1/changes/${first.json.id}/decisions`, { outcome: 'approve', kind: 'override', justification: 'ServiceNow is down and the fix is urgent' });
    assert.equal(refused.status, 409);
    assert.match(refused.json.detail, /circuit is closed/);

    hub.sn.failNext(3, 503);
    const second = await api(hub, ci, 'POST', '/api/v1/changes', { ...change('Hotfix fee rounding, again') });
    const viewer = await hub.token(['viewer']);
    const health = await waitFor('the hub to report degraded', async () => {
      const h = await hub.pipeline.health();
      return h.status === 'degraded' ? h : null;
    });
    assert.equal((health.connections as Record<string, { circuit: string }>).servicenow!.circuit, 'open');

    const noReason = await api(hub, admin, 'POST', `/api/v1/changes/${second.json.id}/decisions`, { outcome: 'approve', kind: 'override' });
    assert.equal(noReason.status, 400);
    assert.equal(noReason.json.field, 'justification');
    const override = await api(hub, admin, 'POST', `/api/v1/changes/${second.json.id}/decisions`, { outcome: 'approve', kind: 'override', justification: 'ServiceNow outage INC0042; fee bug costs money every minute' });
    assert.equal(override.status, 201, JSON.stringify(override.json));
    assert.equal(override.json.change.state, 'approved');
    const audit = await hub.store.audit.listForChange(second.json.id);
    assert.ok(audit.some((t) => t.action === 'override' && t.actor === 'priya.natarajan@acme.example' && /INC0042/.test(t.rationale ?? '')));

    // Once ServiceNow answers again, the record it missed is opened.
    await waitFor('the ServiceNow record after the outage', () => [...hub.sn.tables.get('change_request')!.values()].find((x) => x.correlation_id === second.json.id), 20_000);
    assert.equal((await api(hub, viewer, 'GET', `/api/v1/changes/${second.json.id}`)).status, 200);
  });
});
