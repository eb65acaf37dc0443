// S2 against a real hub process: a change raised in Jira Service Management (a signed jira:issue_created
// webhook for an issue in the change project) is mirrored to ServiceNow for approval; the decision made in
// ServiceNow reaches the JSM request (comment and workflow transition); a status moved in Jira reaches
// the hub and, through it, ServiceNow. A JSM approver's answer (the JSM Approvals field of the webhook,
// Atlassian account ids named as directory people through the directory's `accounts`) reaches
// ServiceNow's approval; the requester's own answer is refused. When a JSM approver declines what
// ServiceNow approved, the divergence is a conflict. On a site without the Approvals field, the answer
// is found by reconciliation through the servicedeskapi approvals endpoint.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createToken } from '../../src/http/plugins/auth.ts';
import { changeIdFor } from '../../src/pipeline/canonical.ts';
import { openStore } from '../../src/store/index.ts';
import { DEFAULT_ACCOUNTS, startFakeJira, type FakeJira } from '../fakes/jira.ts';
import { startFakeServiceNow, type FakeServiceNow } from '../fakes/servicenow.ts';
import { startGapProxy } from '../pipeline/fake-gaps.ts';
import { repoRoot, startHub, waitFor, type HubProcess } from '../support/hub-process.ts';

const SN_SECRET = 'e2e-sn-secret';
const JIRA_SECRET = 'e2e-jira-secret';
const MIA = '5b10ac8d82e05b22cc7d4ef5';
const BETH = '5b10a2844c20165700ede21g';
const APPROVALS_FIELD = 'customfield_10027';
// Atlassian account ids the directory (config/directory.yaml `accounts.jira`) names as Priya and Dev.
const PRIYA = '712020:5f9a3c2e-7d41-4b8e-9a1c-2e6f0b7d4c11';
const DEV = '712020:0c2d8e4f-3a6b-4f1e-8d7c-9b5a1e3f2d60';
// Jira Cloud hides their emails: webhooks and the servicedeskapi name them by account id only.
const ACCOUNTS = [
  ...DEFAULT_ACCOUNTS,
  { accountId: PRIYA, displayName: 'Priya Natarajan', email: 'priya.natarajan@acme.example' },
  { accountId: DEV, displayName: 'Dev Okafor', email: 'dev.okafor@acme.example' },
];
const TEAM_FIELDS = { customfield_10001: { id: '36885b3c-1bf0-4f85-a357-c5b858c31de4', name: 'payments' }, customfield_10050: { value: 'production' } };

interface TrailEntry { seq: number; action: string; actor: string; sourceTool: string; correlation: string | null; rationale: string | null; after: Record<string, unknown> | null }

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
  /** A second JSM site whose webhooks carry no Approvals field (the custom field is not configured). */
  let portal: FakeJira;
  let snApi: { url: string; close(): Promise<void> };
  let hub: HubProcess;
  let token: string;
  let auditToken: string;

  before(async () => {
    sn = await startFakeServiceNow();
    sn.addUser({ user_name: 'priya.natarajan', email: 'priya.natarajan@acme.example', name: 'Priya Natarajan' });
    jira = await startFakeJira({ approvalsField: APPROVALS_FIELD, accounts: ACCOUNTS });
    portal = await startFakeJira({ accounts: ACCOUNTS });
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
  - id: jsm-portal
    connector: jira
    baseUrl: ${portal.url}
    auth: { type: basic, username: hub@acme.example, password: "\${env:JIRA_TOKEN}" }
    webhook: { secret: "\${env:JIRA_SECRET}" }
    # Every two seconds (six fields, seconds first): what the webhooks do not carry is found here.
    reconcile: { cron: "*/2 * * * * *" }
    options:
      project: CHG
      changeProjects: [CHG]
      statuses: { approved: Awaiting implementation, rejected: Declined, cancelled: Canceled }
      changeDefaults:
        rollback: { plan: Re-import the previous certificate bundle, complexity: low }
        artifacts: { peerReviews: [{ reviewer: lena.fischer@acme.example, state: approved }] }
`,
      env: { SN_PASSWORD: 'hub-password', SN_SECRET, JIRA_TOKEN: 'jira-api-token', JIRA_SECRET },
    });
    const store = await openStore(`sqlite:${hub.dataDir}/hub.db`);
    token = (await createToken(store, { name: 'jsm-automation', roles: ['integration', 'viewer'], actor: 'mia.krystof@acme.example' })).secret;
    auditToken = (await createToken(store, { name: 'sox-evidence', roles: ['auditor'], actor: 'omar.haddad@acme.example' })).secret;
    await store.close();
  });
  after(async () => {
    await hub?.dispose();
    await Promise.all([sn?.close(), jira?.close(), portal?.close(), snApi?.close()]);
  });

  const api = async <T>(path: string): Promise<T> => (await (await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json()) as T;
  const stateOf = async (changeId: string) => {
    const r = await fetch(`${hub.url}/api/v1/changes/${changeId}`, { headers: { authorization: `Bearer ${token}` } });
    if (r.status !== 200) return null;
    const body = (await r.json()) as { state?: string; change?: { state?: string } };
    return body.state ?? body.change?.state ?? null;
  };

  /** Someone raises a change request in the JSM change project; Jira sends issue_created to the hub. */
  async function raiseInJsm(summary: string, opts: { site?: FakeJira; connection?: string; reporter?: string } = {}) {
    const site = opts.site ?? jira;
    const connection = opts.connection ?? 'jsm';
    const issue = site.createIssue({ summary, reporter: opts.reporter ?? MIA, labels: ['payments-gateway'], customFields: TEAM_FIELDS });
    const sent = await retrying(() => site.sendIssueCreated(`${hub.url}/webhooks/${connection}`, { key: issue.key, secret: JIRA_SECRET }));
    assert.equal(sent.status, 202, sent.body);
    // The change id is derived from the Jira issue it was raised from.
    const changeId = changeIdFor(connection, 'issue', issue.key);
    const state = await waitFor(`the hub to raise a change for ${issue.key}`, async () => stateOf(changeId), 30_000).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${connection} deliveries: ${JSON.stringify(await api(`/api/v1/deliveries?connectionId=${connection}`))}\n${hub.output().slice(-3000)}`);
    });
    assert.equal(state, 'pending-approval');
    const change = await api<{ title?: string; team?: string; requester?: string; change?: { title?: string; team?: string; requester?: string } }>(`/api/v1/changes/${changeId}`);
    assert.equal(change.title ?? change.change?.title, summary);
    assert.equal(change.team ?? change.change?.team, 'payments');
    return { issue, changeId, requester: change.requester ?? change.change?.requester };
  }

  const snRecordOf = (changeId: string) =>
    waitFor('the ServiceNow change_request', async () => [...sn.tables.get('change_request')!.values()].find((r) => r.correlation_id === changeId) ?? null, 30_000);
  const trail = async (changeId: string) => (await api<{ items: TrailEntry[] }>(`/api/v1/changes/${changeId}/transitions`)).items;
  async function assertChainVerifies() {
    const r = await fetch(`${hub.url}/api/v1/audit/verify`, { headers: { authorization: `Bearer ${auditToken}` } });
    const verify = (await r.json()) as { ok: boolean; checked: number; problems: unknown[] };
    assert.equal(verify.ok, true, JSON.stringify(verify.problems));
    assert.ok(verify.checked > 0);
  }
  /** The approver answers in the JSM portal; Jira's webhook carries the Approvals field and the status it moved to. */
  async function answerInJsm(issueKey: string, approver: string, decision: 'approve' | 'decline') {
    const approval = jira.addApproval(issueKey, 'Technical lead approval', [approver]);
    jira.decideAs(approver, approval.id, decision);
    const moved = jira.issues.get(issueKey)!.histories.at(-1)!.items;
    const sent = await retrying(() => jira.sendIssueUpdated(`${hub.url}/webhooks/jsm`, {
      key: issueKey,
      secret: JIRA_SECRET,
      actor: approver,
      items: [{ field: 'Approvals', fieldtype: 'custom', fieldId: APPROVALS_FIELD, from: null, fromString: null, to: null, toString: null }, ...moved],
    }));
    assert.equal(sent.status, 202, sent.body);
    return (JSON.parse(sent.body) as { deliveryId: string }).deliveryId;
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

  it('a JSM approver\'s answer by webhook reaches ServiceNow\'s approval, in the directory person\'s name, on the trail with source tool jira', async () => {
    // Dev raises the request; Jira names him by his Atlassian account id, the directory by his email.
    const { issue, changeId, requester } = await raiseInJsm('Renew the card-vault TLS certificate', { reporter: DEV });
    assert.equal(requester, 'dev.okafor@acme.example');
    const record = await snRecordOf(changeId);
    // Mirrored for CAB: ServiceNow's approval engine asks Priya too.
    const snApproval = sn.requestApproval(record.sys_id!, 'priya.natarajan');

    // Priya answers in the JSM portal; the webhook names her by account id only.
    const deliveryId = await answerInJsm(issue.key, PRIYA, 'approve');
    await waitFor('the change to be approved', async () => ((await stateOf(changeId)) === 'approved' ? true : null), 30_000).catch(async (e: Error) => {
      throw new Error(`${e.message}\njsm deliveries: ${JSON.stringify(await api('/api/v1/deliveries?connectionId=jsm'))}`);
    });

    // ServiceNow holds the decision: Priya's approval record is approved (by the hub, saying where she
    // decided), its approval engine approved the change, and the hub moved it to Scheduled.
    await waitFor('Priya\'s ServiceNow approval to be recorded', async () => (sn.record('sysapproval_approver', snApproval.sys_id!)?.state === 'approved' ? true : null), 30_000)
      .catch((e: Error) => { throw new Error(`${e.message}\n${hub.output().slice(-3000)}`); });
    assert.ok(sn.journal.some((j) => j.table === 'sysapproval_approver' && j.sysId === snApproval.sys_id && j.field === 'comments' && /Approved in jira/.test(j.text)), JSON.stringify(sn.journal));
    assert.equal(sn.record('change_request', record.sys_id!)?.approval, 'approved');
    await waitFor('ServiceNow to be moved to Scheduled', async () => (sn.record('change_request', record.sys_id!)?.state === '-2' ? true : null), 30_000);

    // The trail: the decision in Priya's name from Jira, with the webhook's delivery; then what ServiceNow was told.
    const items = await waitFor('the record-decision on the trail', async () => {
      const t = await trail(changeId);
      return t.some((x) => x.action === 'outbound' && x.after?.intent === 'record-decision') ? t : null;
    }, 30_000);
    const decision = items.find((t) => t.action === 'decision');
    assert.ok(decision, items.map((t) => `${t.action} ${t.actor} ${t.sourceTool}`).join('\n'));
    assert.equal(decision.actor, 'priya.natarajan@acme.example');
    assert.equal(decision.sourceTool, 'jira');
    assert.equal(decision.correlation, deliveryId);
    const submitted = items.find((t) => t.action === 'submitted');
    assert.equal(submitted?.actor, 'dev.okafor@acme.example');
    const recorded = items.find((t) => t.action === 'outbound' && t.after?.intent === 'record-decision')!;
    assert.equal(recorded.sourceTool, 'servicenow');
    assert.equal(recorded.after?.status, 'done');
    assert.ok(items.some((t) => t.action === 'state:approved'), items.map((t) => t.action).join(', '));
    assert.ok(items.findIndex((t) => t.action === 'decision') < items.findIndex((t) => t.action === 'state:approved'));
    await assertChainVerifies();
  });

  it('the requester\'s own answer in JSM is refused by separation of duties, though Jira names her by account id', async () => {
    const { issue, changeId, requester } = await raiseInJsm('Rotate card-vault signing keys', { reporter: PRIYA });
    assert.equal(requester, 'priya.natarajan@acme.example');
    const deliveryId = await answerInJsm(issue.key, PRIYA, 'approve');
    const delivery = await waitFor('the delivery to be handled', async () => {
      const d = await api<{ status: string; reason: string | null }>(`/api/v1/deliveries/${deliveryId}`);
      return d.status === 'received' || d.status === 'processing' ? null : d;
    }, 30_000);
    assert.match(delivery.reason ?? '', /priya\.natarajan@acme\.example requested this change and cannot approve or reject it \(separation of duties\)/, JSON.stringify(delivery));
    assert.equal(await stateOf(changeId), 'pending-approval');
    assert.ok(!(await trail(changeId)).some((t) => t.action === 'decision'));
  });

  it('a JSM answer the webhook does not carry (no Approvals field) is found by reconciliation through the servicedeskapi', async () => {
    const { issue, changeId } = await raiseInJsm('Renew the tokenisation service certificate', { site: portal, connection: 'jsm-portal', reporter: DEV });
    const record = await snRecordOf(changeId);
    const snApproval = sn.requestApproval(record.sys_id!, 'priya.natarajan');

    // Priya approves in the portal. This site's webhook has no Approvals field: it shows only that the
    // request moved to Awaiting implementation, which the hub cannot take without the decision.
    const approval = portal.addApproval(issue.key, 'Technical lead approval', [PRIYA]);
    portal.decideAs(PRIYA, approval.id, 'approve');
    const sent = await retrying(() => portal.sendIssueUpdated(`${hub.url}/webhooks/jsm-portal`, { key: issue.key, secret: JIRA_SECRET, actor: PRIYA }));
    assert.equal(sent.status, 202, sent.body);

    await waitFor('reconciliation to find the JSM decision', async () => ((await stateOf(changeId)) === 'approved' ? true : null), 60_000).catch(async (e: Error) => {
      throw new Error(`${e.message}\njsm-portal deliveries: ${JSON.stringify(await api('/api/v1/deliveries?connectionId=jsm-portal'))}\n${hub.output().slice(-3000)}`);
    });
    // It was read the way JSM serves it: the approvals endpoint, with start/limit paging, as the hub's account.
    const reads = portal.calls.filter((c) => c.path === `/rest/servicedeskapi/request/${issue.key}/approval`);
    assert.ok(reads.length > 0 && reads.every((c) => c.query.get('start') === '0' && c.query.get('limit') === '50'), JSON.stringify(reads.map((c) => c.query.toString())));

    const items = await waitFor('the drift repaired on the change\'s trail', async () => {
      const t = await trail(changeId);
      return t.some((x) => x.action === 'drift-repaired') ? t : null;
    }, 30_000);
    const decision = items.find((t) => t.action === 'decision')!;
    assert.equal(decision.actor, 'priya.natarajan@acme.example');
    assert.equal(decision.sourceTool, 'jira');
    assert.match(decision.correlation ?? '', /^reconcile-/, 'the decision came with a reconciliation run');
    const repaired = items.find((t) => t.action === 'drift-repaired')!;
    assert.equal(repaired.correlation, decision.correlation);
    assert.equal(repaired.sourceTool, 'jira');
    assert.match(repaired.rationale ?? '', /^drift repaired by reconciliation of connection jsm-portal/);
    // And it reached ServiceNow as in the webhook case.
    await waitFor('Priya\'s ServiceNow approval to be recorded', async () => (sn.record('sysapproval_approver', snApproval.sys_id!)?.state === 'approved' ? true : null), 30_000);
    await waitFor('ServiceNow to be moved to Scheduled', async () => (sn.record('change_request', record.sys_id!)?.state === '-2' ? true : null), 30_000);
    await assertChainVerifies();
  });
});
