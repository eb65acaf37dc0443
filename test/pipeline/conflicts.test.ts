// Two tools disagree about one change: an approver approved in the hub, and a rejection for the same
// step arrives from ServiceNow. The conflict keeps both versions; by default the rejection wins, and
// with `conflicts.rule: manual` it waits until an admin resolves it through the API, which goes through
// the engine and the audit log.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HubConfig } from '../../src/config/types.ts';
import { api, deliver, explain, startHub, waitFor, GH_SECRET, SN_SECRET, type PipelineHub } from './harness.ts';

/** A GitHub gate raises a change, and the hub opens its ServiceNow change_request. */
async function changeInServiceNow(hub: PipelineHub, runId: number, ref: string) {
  const sent = await deliver(() => hub.gh.sendDeploymentProtectionRule(hub.webhookUrl('github'), { secret: GH_SECRET, runId, environment: 'staging', ref }));
  assert.equal(sent.status, 202, sent.body);
  const record = await waitFor('the ServiceNow change_request', () => [...hub.sn.tables.get('change_request')!.values()].find((r) => r.short_description?.includes(ref)));
  return { record, changeId: record.correlation_id! };
}

/** Sends a business-rule post shaped by the test and waits until the hub has handled the delivery. */
async function postedFromServiceNow(hub: PipelineHub, viewer: string, body: unknown) {
  const res = await deliver(() => hub.sn.sendWebhook(hub.webhookUrl('servicenow'), body, { secret: SN_SECRET }));
  assert.equal(res.status, 202, res.body);
  const id = JSON.parse(res.body).deliveryId as string;
  return waitFor(`delivery ${id}`, async () => { const d = (await api(hub, viewer, 'GET', `/api/v1/deliveries/${id}`)).json; return d.status === 'received' ? null : d; });
}

async function approvedInHubThenRejectedInServiceNow(hub: PipelineHub, runId: number) {
  const { record, changeId } = await changeInServiceNow(hub, runId, `conflict-${runId}`);
  const priya = await hub.token(['approver'], 'priya.natarajan@acme.example');
  const approved = await api(hub, priya, 'POST', `/api/v1/changes/${changeId}/decisions`, { outcome: 'approve', rationale: 'Canary looked fine' });
  assert.equal(approved.status, 201, JSON.stringify(approved.json));
  assert.equal(approved.json.change.state, 'approved');

  hub.sn.addUser({ user_name: `marcus.webb.${runId}`, email: 'marcus.webb@acme.example', name: 'Marcus Webb' });
  const approval = hub.sn.requestApproval(record.sys_id!, `marcus.webb.${runId}`);
  hub.sn.reject(approval.sys_id!, `marcus.webb.${runId}`, 'The ledger migration has not been rehearsed');
  const rejected = await deliver(() => hub.sn.sendBusinessRule(hub.webhookUrl('servicenow'), 'sysapproval_approver', approval.sys_id!, ['state'], { secret: SN_SECRET }));
  assert.equal(rejected.status, 202, rejected.body);
  return changeId;
}

describe('conflicting decisions, default rule (a rejection wins)', () => {
  let hub: PipelineHub;
  before(async () => { hub = await startHub(); });
  after(() => hub.close());

  it('records the conflict with both versions and stops the change', async () => {
    const changeId = await approvedInHubThenRejectedInServiceNow(hub, 7001);
    const viewer = await hub.token(['viewer']);
    const conflict = await waitFor('the conflict', async () => (await api(hub, viewer, 'GET', `/api/v1/conflicts?changeId=${changeId}`)).json.items[0]);
    assert.equal(conflict.kind, 'decision');
    assert.deepEqual(conflict.versions.map((v: { sourceTool: string; value: string }) => `${v.sourceTool}:${v.value}`), ['hub:approve', 'servicenow:reject']);
    const resolved = await waitFor('the rule to resolve it', async () => {
      const c = (await api(hub, viewer, 'GET', `/api/v1/conflicts?changeId=${changeId}`)).json.items[0];
      return c.status === 'resolved' ? c : null;
    });
    assert.equal(resolved.resolution.rule, 'reject-wins');
    assert.equal(resolved.resolution.outcome, 'reject');
    assert.equal((await hub.store.changes.get(changeId))?.state, 'cancelled');
  });
});

describe('conflicting decisions, conflicts.rule: manual', () => {
  let hub: PipelineHub;
  let changeId: string;
  let conflictId: string;
  before(async () => {
    hub = await startHub({ configPatch: (c) => ({ ...c, conflicts: { rule: 'manual' } }) as HubConfig });
    changeId = await approvedInHubThenRejectedInServiceNow(hub, 7002);
    const viewer = await hub.token(['viewer']);
    conflictId = (await waitFor('the conflict', async () => (await api(hub, viewer, 'GET', '/api/v1/conflicts?status=open')).json.items[0])).id;
  });
  after(() => hub.close());

  it('waits: the change keeps its state until someone decides', async () => {
    assert.equal((await hub.store.changes.get(changeId))?.state, 'approved');
  });

  it('refuses a resolution without a rationale, naming the field, and from a non-admin', async () => {
    const admin = await hub.token(['admin'], 'omar.haddad@acme.example');
    const missing = await api(hub, admin, 'POST', `/api/v1/conflicts/${conflictId}/resolve`, { outcome: 'reject' });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.field, 'rationale');
    const wrong = await api(hub, admin, 'POST', `/api/v1/conflicts/${conflictId}/resolve`, { outcome: 'maybe', rationale: 'not sure' });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json.field, 'outcome');
    const viewer = await hub.token(['viewer']);
    assert.equal((await api(hub, viewer, 'POST', `/api/v1/conflicts/${conflictId}/resolve`, { outcome: 'reject', rationale: 'no' })).status, 403);
  });

  it('applies the admin\'s resolution through the engine and the audit log, once', async () => {
    const admin = await hub.token(['admin'], 'omar.haddad@acme.example');
    const r = await api(hub, admin, 'POST', `/api/v1/conflicts/${conflictId}/resolve`, { outcome: 'reject', rationale: 'CAB rejection stands until the migration is rehearsed' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.status, 'resolved');
    assert.equal(r.json.resolution.by, 'omar.haddad@acme.example');
    assert.equal((await hub.store.changes.get(changeId))?.state, 'cancelled');
    const audit = await hub.store.audit.listForChange(changeId);
    const resolved = audit.find((t) => t.action === 'conflict-resolved');
    assert.equal(resolved?.actor, 'omar.haddad@acme.example');
    assert.equal(resolved?.rationale, 'CAB rejection stands until the migration is rehearsed');
    assert.ok(audit.some((t) => t.action === 'conflict'));
    assert.ok(audit.some((t) => t.action === 'state:cancelled' && t.actor === 'omar.haddad@acme.example'));
    const again = await api(hub, admin, 'POST', `/api/v1/conflicts/${conflictId}/resolve`, { outcome: 'approve', rationale: 'changed my mind' });
    assert.equal(again.status, 409);
  });
});

describe('ServiceNow posts the hub must not follow', () => {
  let hub: PipelineHub;
  before(async () => { hub = await startHub(); });
  after(() => hub.close());

  it('an update that arrives after a newer one is not applied over it: ignored, saying it is late', async () => {
    const { record, changeId } = await changeInServiceNow(hub, 7003, 'late-update-7003');
    const base = Number(record.sys_mod_count ?? '0');
    // Two business-rule posts of the record, sent newest first: cancelled at base+2, then the
    // pending-approval it had at base+1 (ServiceNow guarantees no order, and retries fail over).
    const body = (state: string, modCount: number) => ({ event: 'record.updated', table: 'change_request', instance: hub.sn.url, changed: ['state'], record: { ...record, state, sys_mod_count: String(modCount) } });
    const viewer = await hub.token(['viewer']);
    const newer = await postedFromServiceNow(hub, viewer, body('4', base + 2));
    assert.equal(newer.status, 'processed', await explain(hub, changeId));
    assert.equal((await hub.store.changes.get(changeId))?.state, 'cancelled');

    const older = await postedFromServiceNow(hub, viewer, body('-4', base + 1));
    assert.equal(older.status, 'ignored');
    assert.match(older.reason, new RegExp(`servicenow change_request ${record.sys_id} version ${base + 1} is older than version ${base + 2} already applied`));
    assert.equal((await hub.store.changes.get(changeId))?.state, 'cancelled');
    const viewerConflicts = (await api(hub, viewer, 'GET', `/api/v1/conflicts?changeId=${changeId}`)).json.items;
    assert.deepEqual(viewerConflicts, [], 'a late delivery is not a disagreement between tools');
  });

  it('an update showing the state last synced, while the hub\'s newer one waits to reach ServiceNow, is neither followed back nor a conflict', async () => {
    const { record, changeId } = await changeInServiceNow(hub, 7004, 'held-sync-7004');
    const link = await waitFor('the synced state', async () => {
      const l = await hub.store.links.find('servicenow', 'change_request', record.sys_id!);
      return l?.data.syncedState ? l : null;
    });
    assert.equal(link.data.syncedState, 'pending-approval');
    // ServiceNow is out for a while: the hub's state update waits in the queue.
    hub.sn.failNext(1000, 503);
    const priya = await hub.token(['approver'], 'priya.natarajan@acme.example');
    const approved = await api(hub, priya, 'POST', `/api/v1/changes/${changeId}/decisions`, { outcome: 'approve', rationale: 'Canary looked fine' });
    assert.equal(approved.status, 201, JSON.stringify(approved.json));
    assert.equal(approved.json.change.state, 'approved');

    // Meanwhile ServiceNow requests its approvals: the record's approval field moves, its state is still
    // Assess (pending-approval), the state last synced.
    const viewer = await hub.token(['viewer']);
    const note = { event: 'record.updated', table: 'change_request', instance: hub.sn.url, changed: ['approval'], record: { ...record, state: '-4', approval: 'requested', sys_mod_count: String(Number(link.versionSeen ?? '0') + 1) } };
    const d = await postedFromServiceNow(hub, viewer, note);
    assert.equal(d.status, 'processed', JSON.stringify(d));
    assert.equal((await hub.store.changes.get(changeId))?.state, 'approved');
    assert.deepEqual((await api(hub, viewer, 'GET', `/api/v1/conflicts?changeId=${changeId}`)).json.items, []);
  });
});
