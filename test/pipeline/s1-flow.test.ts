// S1 in one process: a GitHub deployment waits on the hub → a ServiceNow change_request is opened and
// the Jira issue named in the branch gets a comment → the approver decides in ServiceNow → GitHub's
// deployment gate is answered. Real store, queue, connectors and HTTP; fake vendor servers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { actionContext } from '../../src/pipeline/context.ts';
import { deliver, explain, startHub, waitFor, GH_SECRET, SN_SECRET, type PipelineHub } from './harness.ts';

describe('S1: GitHub gate → ServiceNow approval', () => {
  let hub: PipelineHub;
  before(async () => {
    hub = await startHub();
    hub.sn.addUser({ user_name: 'priya.natarajan', email: 'priya.natarajan@acme.example', name: 'Priya Natarajan' });
    hub.sn.addUser({ user_name: 'sam.rivera', email: 'sam.rivera@acme.example', name: 'Sam Rivera' });
  });
  after(() => hub.close());

  async function requestDeployment(runId: number) {
    const issue = hub.jira.createIssue({ summary: `Rounding fix ${runId}` });
    const sent = await deliver(() => hub.gh.sendDeploymentProtectionRule(hub.webhookUrl('github'), { secret: GH_SECRET, runId, environment: 'staging', ref: `${issue.key}-fix-rounding` }));
    assert.equal(sent.status, 202, sent.body);
    const record = await waitFor('the ServiceNow change_request', () => [...hub.sn.tables.get('change_request')!.values()].find((r) => r.short_description?.includes(`${issue.key}-fix-rounding`)));
    return { issue, record };
  }

  async function decideInServiceNow(changeSysId: string, user: string, outcome: 'approve' | 'reject', comments: string) {
    const approval = hub.sn.requestApproval(changeSysId, user);
    if (outcome === 'approve') hub.sn.approve(approval.sys_id!, user, comments);
    else hub.sn.reject(approval.sys_id!, user, comments);
    const sent = await deliver(() => hub.sn.sendBusinessRule(hub.webhookUrl('servicenow'), 'sysapproval_approver', approval.sys_id!, ['state'], { secret: SN_SECRET }));
    assert.equal(sent.status, 202, sent.body);
  }

  it('opens a ServiceNow change_request and comments on the Jira issue named in the branch', async () => {
    const { issue, record } = await requestDeployment(5001);
    assert.match(record.correlation_id!, /^chg-/);
    const comments = await waitFor('a comment on the Jira issue', () => (hub.jira.issues.get(issue.key)?.comments.length ? hub.jira.issues.get(issue.key)!.comments : null));
    assert.match(JSON.stringify(comments[0]!.body), /Approval requested/);
    const change = await hub.store.changes.get(record.correlation_id!);
    assert.equal(change?.state, 'pending-approval');
    const links = await hub.store.links.listForChange(change!.id);
    assert.deepEqual(links.map((l) => `${l.connectionId}:${l.kind}`).sort(), ['github:commit', 'github:deployment-gate', 'github:repository', 'jira:issue', 'servicenow:change_request'].sort());
  });

  it('answers the GitHub gate "approved" once the plan is satisfied in ServiceNow', async () => {
    const { record } = await requestDeployment(5002);
    await decideInServiceNow(record.sys_id!, 'priya.natarajan', 'approve', 'Looks good to ship');
    const answer = await waitFor('the GitHub gate answer', () => hub.gh.decisions.find((d) => d.runId === 5002)).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await explain(hub, record.correlation_id)}`);
    });
    assert.equal(answer.state, 'approved');
    assert.equal(answer.environment_name, 'staging');
    const change = await hub.store.changes.get(record.correlation_id!);
    assert.equal(change?.state, 'approved');
  });

  it('leaves a change in Authorize there when the hub mirrors pending-approval again', async () => {
    const { record } = await requestDeployment(5004);
    hub.sn.requestApproval(record.sys_id!, 'priya.natarajan');
    assert.equal(hub.sn.record('change_request', record.sys_id!)?.state, '-3');
    // What an outbound sync-state job runs with (a re-sync after a conflict is settled for the hub's state).
    const ctx = await hub.pipeline.context();
    const sn = ctx.connections.get('servicenow')!;
    const link = { kind: 'change_request', externalId: record.sys_id! };
    const result = await sn.actions.get('sync-state')!.run({ intent: 'sync-state', idempotencyKey: 'resync-5004', change: {}, link, params: { state: 'pending-approval' } }, actionContext(ctx, sn));
    assert.equal(result.status, 'already-done');
    assert.equal(hub.sn.record('change_request', record.sys_id!)?.state, '-3');
  });

  it('answers the gate "rejected" with the approver\'s reason', async () => {
    const { record } = await requestDeployment(5003);
    await decideInServiceNow(record.sys_id!, 'priya.natarajan', 'reject', 'No rollback tested for the ledger migration');
    const answer = await waitFor('the GitHub gate answer', () => hub.gh.decisions.find((d) => d.runId === 5003));
    assert.equal(answer.state, 'rejected');
    assert.match(answer.comment ?? '', /No rollback tested for the ledger migration/);
    assert.equal((await hub.store.changes.get(record.correlation_id!))?.state, 'rejected');
  });
});
