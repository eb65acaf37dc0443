// S2 against a real hub process: a change raised in Jira Service Management (a signed jira:issue_created
// webhook for an issue in the change project) is mirrored to ServiceNow for approval; the decision made in
// ServiceNow reaches the JSM request (comment and workflow transition); a status moved in Jira reaches
// the hub and, through it, ServiceNow. When a JSM approver declines what ServiceNow approved, the
// approver's answer arrives by webhook (the JSM Approvals field) and the divergence is a conflict.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createToken } from '../../src/http/plugins/auth.ts';
import { changeIdFor } from '../../src/pipeline/canonical.ts';
import { openStore } from '../../src/store/index.ts';
import { startFakeJira, type FakeJira } from '../fakes/jira.ts';
import { startFakeServiceNow, type FakeServiceNow } from '../fakes/servicenow.ts';
import { startGapProxy } from '../pipeline/fake-gaps.ts';
import { repoRoot, startHub, waitFor, type HubProcess } from '../support/hub-process.ts';

const SN_SECRET = 'e2e-sn-secret';
const JIRA_SECRET = 'e2e-jira-secret';
const MIA = '5b10ac8d82e05b22cc7d4ef5';
const BETH = '5b10a2844c20165700ede21g';
const APPROVALS_FIELD = 'customfield_10027';

async function retrying(send: () => Promise<{ status: number; body: string }>): Promise<{ status: number; body: string }> {
  for (let attempt = 0; ; attempt++) {
    const r = await send();
    if ((r.status !== 429 && r.status !== 503) || attempt >= 5) return r;
    await new Promise((done) => setTimeout(done, 1000));
  }
}

describe('S2 end to end: Jira Service Management ↔ ServiceNow (real hub process)', () => {
  let sn: FakeServiceNow;
  let jira: FakeJira;
  let snApi: { url: string; close(): Promise<void> };
  let hub: HubProcess;
  let token: string;

  before(async () => {
    sn = await startFakeServiceNow();
    sn.addUser({ user_name: 'priya.natarajan', email: 'priya.natarajan@acme.example', name: 'Priya Natarajan' });
    jira = await startFakeJira({ approvalsField: APPROVALS_FIELD });
    snApi = await startGapProxy('servicenow', sn);
    hub = await startHub({
      config: `
store: sqlite:./hub.db
queue: embedded
policy: ${join(repoRoot, 'config', 'policy.yaml')}
mappingsDir: ${join(repoRoot, 'mappings')}
connections:
  - id: servicenow
    connector: servicenow
    baseUrl: ${snApi.url}
    auth: { type: basic, username: hub.integration, password: "\${env:SN_PASSWORD}" }
    webhook: { secret: "\${env:SN_SECRET}" }
    options: { systemOfRecord: true }
  - id: jsm
    connector: jira
    baseUrl: ${jira.url}
    auth: { type: basic, username: hub@acme.example, password: "\${env:JIRA_TOKEN}" }
    webhook: { secret: "\${env:JIRA_SECRET}" }
    options:
      project: CHG
      changeProjects: [CHG]
      approvalsField: ${APPROVALS_FIELD}
      statuses: { approved: Awaiting implementation, rejected: Declined, cancelled: Canceled }
      # What the payments team's JSM requests do not carry as fields: its standing rollback plan and review.
      changeDefaults:
        rollback: { plan: Re-import the previous certificate bundle, complexity: low }
        artifacts: { peerReviews: [{ reviewer: lena.fischer@acme.example, state: approved }] }
`,
      env: { SN_PASSWORD: 'hub-password', SN_SECRET, JIRA_TOKEN: 'jira-api-token', JIRA_SECRET },
    });
    const store = await openStore(`sqlite:${hub.dataDir}/hub.db`);
    token = (await createToken(store, { name: 'jsm-automation', roles: ['integration', 'viewer'], actor: 'mia.krystof@acme.example' })).secret;
    await store.close();
  });
  after(async () => {
    await hub?.dispose();
    await Promise.all([sn?.close(), jira?.close(), snApi?.close()]);
  });

  const api = async <T>(path: string): Promise<T> => (await (await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json()) as T;
  const stateOf = async (changeId: string) => {
    const r = await fetch(`${hub.url}/api/v1/changes/${changeId}`, { headers: { authorization: `Bearer ${token}` } });
    if (r.status !== 200) return null;
    const body = (await r.json()) as { state?: string; change?: { state?: string } };
    return body.state ?? body.change?.state ?? null;
  };

  /** Someone raises a change request in the JSM change project; Jira sends issue_created to the hub. */
  async function raiseInJsm(summary: string) {
    const issue = jira.createIssue({
      summary,
      reporter: MIA,
      labels: ['payments-gateway'],
      customFields: { customfield_10001: { id: '36885b3c-1bf0-4f85-a357-c5b858c31de4', name: 'payments' }, customfield_10050: { value: 'production' } },
    });
    const sent = await retrying(() => jira.sendIssueCreated(`${hub.url}/webhooks/jsm`, { key: issue.key, secret: JIRA_SECRET }));
    assert.equal(sent.status, 202, sent.body);
    // The change id is derived from the Jira issue it was raised from.
    const changeId = changeIdFor('jsm', 'issue', issue.key);
    const state = await waitFor(`the hub to raise a change for ${issue.key}`, async () => stateOf(changeId), 30_000).catch(async (e: Error) => {
      throw new Error(`${e.message}\njsm deliveries: ${JSON.stringify(await api('/api/v1/deliveries?connectionId=jsm'))}\n${hub.output().slice(-3000)}`);
    });
    assert.equal(state, 'pending-approval');
    const change = await api<{ title?: string; team?: string; requester?: string; change?: { title?: string; team?: string } }>(`/api/v1/changes/${changeId}`);
    assert.equal(change.title ?? change.change?.title, summary);
    assert.equal(change.team ?? change.change?.team, 'payments');
    return { issue, changeId };
  }

  it('mirrors the JSM request to ServiceNow, brings the ServiceNow decision back to JSM, and Jira\'s status change to ServiceNow', async () => {
    const { issue, changeId } = await raiseInJsm('Rotate payment gateway certificates');
    const created = { id: changeId };

    // Mirrored to ServiceNow, where the approval is given.
    const record = await waitFor('the ServiceNow change_request', async () => [...sn.tables.get('change_request')!.values()].find((r) => r.correlation_id === created.id) ?? null, 30_000);
    await waitFor('the "approval requested" comment on the JSM request', async () => (jira.issues.get(issue.key)!.comments.length > 0 ? true : null), 30_000);
    const approval = sn.requestApproval(record.sys_id!, 'priya.natarajan');
    sn.approve(approval.sys_id!, 'priya.natarajan', 'Certificates checked against the HSM inventory');
    const sent = await retrying(() => sn.sendBusinessRule(`${hub.url}/webhooks/servicenow`, 'sysapproval_approver', approval.sys_id!, ['state'], { secret: SN_SECRET }));
    assert.equal(sent.status, 202, sent.body);

    // The decision reaches JSM: the request moves on in its workflow and says who approved.
    await waitFor('the JSM request to move to Awaiting implementation', async () => (jira.issues.get(issue.key)!.status === 'Awaiting implementation' ? true : null), 30_000)
      .catch((e: Error) => { throw new Error(`${e.message}\n${hub.output().slice(-3000)}`); });
    await waitFor('the "approved" comment on the JSM request', async () => (jira.issues.get(issue.key)!.comments.some((c) => /Approved/.test(JSON.stringify(c.body))) ? true : null), 30_000);

    // Someone starts the work from Jira: the hub follows, and tells ServiceNow.
    jira.transitionAs(MIA, issue.key, 'Implement');
    const updated = await retrying(() => jira.sendIssueUpdated(`${hub.url}/webhooks/jsm`, { key: issue.key, secret: JIRA_SECRET, actor: MIA }));
    assert.equal(updated.status, 202, updated.body);
    const change = await waitFor('the hub to follow Jira to implementing', async () => {
      const r = await fetch(`${hub.url}/api/v1/changes/${created.id}`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await r.json()) as { state?: string; change?: { state?: string } };
      const state = body.state ?? body.change?.state;
      return state === 'implementing' ? body : null;
    }, 30_000).catch(async (e: Error) => {
      const d = await (await fetch(`${hub.url}/api/v1/deliveries?connectionId=jsm`, { headers: { authorization: `Bearer ${token}` } })).json();
      throw new Error(`${e.message}\njsm deliveries: ${JSON.stringify(d)}`);
    });
    assert.ok(change);
    await waitFor('ServiceNow to be moved to Implement', async () => (sn.record('change_request', record.sys_id!)?.state === '-1' ? true : null), 30_000);
  });

  it('a JSM approver declining what ServiceNow approved is a conflict, visible at /api/v1/conflicts', async () => {
    const { issue, changeId } = await raiseInJsm('Raise payment gateway connection pool size');
    const record = await waitFor('the ServiceNow change_request', async () => [...sn.tables.get('change_request')!.values()].find((r) => r.correlation_id === changeId) ?? null, 30_000);
    const approval = sn.requestApproval(record.sys_id!, 'priya.natarajan');
    sn.approve(approval.sys_id!, 'priya.natarajan', 'Pool size checked against the database limits');
    const sent = await retrying(() => sn.sendBusinessRule(`${hub.url}/webhooks/servicenow`, 'sysapproval_approver', approval.sys_id!, ['state'], { secret: SN_SECRET }));
    assert.equal(sent.status, 202, sent.body);
    await waitFor('the change to be approved', async () => ((await stateOf(changeId)) === 'approved' ? true : null), 30_000);

    // Meanwhile the JSM change manager declines the same request in the portal; Jira's webhook carries the answer.
    const jsmApproval = jira.addApproval(issue.key, 'Change manager approval', [BETH]);
    jira.decideAs(BETH, jsmApproval.id, 'decline');
    const updated = await retrying(() => jira.sendIssueUpdated(`${hub.url}/webhooks/jsm`, {
      key: issue.key,
      secret: JIRA_SECRET,
      actor: BETH,
      items: [{ field: 'Approvals', fieldtype: 'custom', fieldId: APPROVALS_FIELD, from: null, fromString: null, to: null, toString: null }],
    }));
    assert.equal(updated.status, 202, updated.body);

    const conflict = await waitFor('a decision conflict for the change', async () => {
      const page = await api<{ items: { changeId: string; kind: string; status: string; versions: { sourceTool?: string; value?: unknown; actor?: string }[] }[] }>(`/api/v1/conflicts?changeId=${changeId}`);
      return page.items.find((c) => c.kind === 'decision') ?? null;
    }, 30_000).catch(async (e: Error) => {
      throw new Error(`${e.message}\njsm deliveries: ${JSON.stringify(await api('/api/v1/deliveries?connectionId=jsm'))}`);
    });
    assert.equal(conflict.changeId, changeId);
    assert.deepEqual(conflict.versions.map((v) => v.sourceTool).sort(), ['jira', 'servicenow']);
    assert.ok(conflict.versions.some((v) => v.sourceTool === 'jira' && v.actor === BETH), JSON.stringify(conflict.versions));
    // The default rule (conflicts.rule: reject-wins) settles it: the rejection stands. The change was
    // already approved (its step closed), so the rejection stops it as cancelled.
    await waitFor('the conflict to be resolved by reject-wins', async () => {
      const page = await api<{ items: { kind: string; status: string; resolution: { rule?: string } | null }[] }>(`/api/v1/conflicts?changeId=${changeId}`);
      return page.items.some((c) => c.kind === 'decision' && c.status === 'resolved' && c.resolution?.rule === 'reject-wins') ? true : null;
    }, 30_000).catch(async (e: Error) => { throw new Error(`${e.message}\n${JSON.stringify(await api(`/api/v1/conflicts?changeId=${changeId}`))}`); });
    assert.equal(await stateOf(changeId), 'cancelled');
  });
});
