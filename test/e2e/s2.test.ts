// S2 against a real hub process: a change raised from Jira Service Management (its automation calls the
// hub's API with the request's issue) is mirrored to ServiceNow for approval; the decision made in
// ServiceNow reaches the JSM request (comment and workflow transition); a status moved in Jira reaches
// the hub and, through it, ServiceNow.
// Not covered here: a JSM approver's answer arriving by webhook. The fake Jira does not put JSM approvals
// into an issue field, so the connector's approvals-field path cannot be driven end to end yet.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createToken } from '../../src/http/plugins/auth.ts';
import { openStore } from '../../src/store/index.ts';
import { startFakeJira, type FakeJira } from '../fakes/jira.ts';
import { startFakeServiceNow, type FakeServiceNow } from '../fakes/servicenow.ts';
import { startGapProxy } from '../pipeline/fake-gaps.ts';
import { repoRoot, startHub, waitFor, type HubProcess } from '../support/hub-process.ts';

const SN_SECRET = 'e2e-sn-secret';
const JIRA_SECRET = 'e2e-jira-secret';
const MIA = '5b10ac8d82e05b22cc7d4ef5';

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
    jira = await startFakeJira();
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
    options: { project: CHG, statuses: { approved: Awaiting implementation, rejected: Declined, cancelled: Canceled } }
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

  it('mirrors the JSM request to ServiceNow, brings the ServiceNow decision back to JSM, and Jira\'s status change to ServiceNow', async () => {
    const issue = jira.createIssue({ summary: 'Rotate payment gateway certificates', reporter: MIA });
    const res = await fetch(`${hub.url}/api/v1/changes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        title: 'Rotate payment gateway certificates',
        environment: 'production',
        team: 'payments',
        services: ['payments-gateway'],
        rollback: { plan: 'Re-import the previous certificate bundle', complexity: 'low' },
        artifacts: { peerReviews: [{ reviewer: 'lena.fischer@acme.example', state: 'approved' }] },
        links: [{ connectionId: 'jsm', kind: 'issue', externalId: issue.key }],
      }),
    });
    const created = (await res.json()) as { id: string; state: string; steps: { name: string }[] };
    assert.equal(res.status, 201, JSON.stringify(created));
    assert.equal(created.state, 'pending-approval');

    // Mirrored to ServiceNow, where the approval is given.
    const record = await waitFor('the ServiceNow change_request', async () => [...sn.tables.get('change_request')!.values()].find((r) => r.correlation_id === created.id) ?? null, 30_000);
    await waitFor('the "approval requested" comment on the JSM request', async () => (jira.issues.get(issue.key)!.comments.length > 0 ? true : null), 30_000);
    sn.addUser({ user_name: 'priya.natarajan', email: 'priya.natarajan@acme.example', name: 'Priya Natarajan' });
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
});
