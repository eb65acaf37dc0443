// The connectors against the fake vendor servers (test/fakes/, strict about the documented contracts),
// through the real HTTP client: webhooks as the vendor sends them (captured by a local receiver, then
// verify → parse with the real mappings), and actions/reconciliation as the vendor answers them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import github from '../../connectors/github/index.ts';
import jira from '../../connectors/jira/index.ts';
import servicenow from '../../connectors/servicenow/index.ts';
import { HttpError, type ConnectionSettings, type ConnectorDefinition, type InboundDelivery } from '../../src/sdk/index.ts';
import { startFakeGitHub, type FakeGitHub } from '../fakes/github.ts';
import { startFakeJira, type FakeJira } from '../fakes/jira.ts';
import { startReceiver } from '../fakes/receiver.ts';
import { startFakeServiceNow, type FakeServiceNow } from '../fakes/servicenow.ts';
import { actionContext, actionInput, actionOf, allPages } from './support/context.ts';
import { connectionFor, parseContext } from './support/fixtures.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
let receiver: Receiver;
before(async () => {
  receiver = await startReceiver(202);
});
after(async () => {
  await receiver.close();
});

/** The last delivery the receiver got, as the hub's ingest hands it to a connector. */
function lastDelivery(): InboundDelivery {
  const r = receiver.received.at(-1)!;
  return { rawBody: Buffer.from(r.rawBody, 'utf8'), headers: r.headers, receivedAt: new Date() };
}

async function receive(connector: ConnectorDefinition, connection: ConnectionSettings) {
  const delivery = lastDelivery();
  assert.deepEqual(connector.webhook!.verify(delivery, connection), { ok: true });
  return connector.parse!(delivery, await parseContext(connection, connector.mappingKinds ?? []));
}

describe('servicenow against the fake instance', () => {
  let sn: FakeServiceNow;
  let conn: ConnectionSettings;
  before(async () => {
    sn = await startFakeServiceNow();
    conn = connectionFor('servicenow', {
      baseUrl: sn.url,
      auth: { type: 'basic', username: 'hub.integration', password: 'hub-password' },
      webhook: { secret: 'sn-push-secret' },
      options: { assignmentGroup: 'b85d44954a3623120004689b2d5dd60a' },
    });
  });
  after(() => sn.close());

  it('opens the change once, notes it, sees the approver decide through the business rule and reconciles both', async () => {
    const ctx = await actionContext(servicenow, conn, { cursor: '2000-01-01 00:00:00' });
    const change = { id: 'chg_fake_1', title: 'Deploy payments-api 2.15.0', description: 'run 3410', risk: { score: 40, tier: 'medium' }, plannedWindow: { start: '2024-11-25T08:00:00Z', end: '2024-11-25T09:00:00Z' } };
    const opened = await actionOf(servicenow, 'open-record')(actionInput('open-record', { change }), ctx);
    assert.equal(opened.status, 'done');
    const sysId = opened.link!.externalId;
    assert.equal(sn.record('change_request', sysId)?.correlation_id, 'chg_fake_1');
    assert.equal((await actionOf(servicenow, 'open-record')(actionInput('open-record', { change }), ctx)).status, 'already-done');

    const note = actionInput('comment', { idempotencyKey: 'chg_fake_1:announce:1', link: opened.link!, params: { message: 'Approval requested from CAB' } });
    assert.equal((await actionOf(servicenow, 'comment')(note, ctx)).status, 'done');
    assert.equal((await actionOf(servicenow, 'comment')(note, ctx)).status, 'already-done');

    const approvalId = sn.requestApproval(sysId, 'beth.anglin').sys_id!;
    sn.approve(approvalId, 'beth.anglin', 'Fine by CAB');
    await sn.sendBusinessRule(receiver.url, 'sysapproval_approver', approvalId, ['state'], { secret: 'sn-push-secret' });
    const parsed = await receive(servicenow, conn);
    assert.equal(parsed.status, 'events');
    assert.ok(parsed.status === 'events');
    const decision = parsed.events[0]!;
    assert.ok(decision.type === 'decision.recorded');
    assert.deepEqual([decision.link.externalId, decision.outcome, decision.actor, decision.rationale], [sysId, 'approve', 'beth.anglin@acme.example', 'Fine by CAB']);

    const events = (await allPages(servicenow.reconcile!(ctx))).flatMap((p) => p.events);
    const mine = events.filter((e) => e.link.externalId === sysId);
    assert.deepEqual(mine.map((e) => (e.type === 'record.updated' ? ['record.updated', e.fields.approval] : [e.type, e.type === 'decision.recorded' ? e.actor : null])), [
      ['record.updated', 'approved'],
      ['decision.recorded', 'beth.anglin@acme.example'],
    ]);
  });

  it('reconciles every change when the instance returns fewer records a page than sysparm_limit asks', async () => {
    const capped = await startFakeServiceNow({ maxPageSize: 2 });
    try {
      const ids = [0, 1, 2, 3, 4].map((i) => capped.createChange({ short_description: `Capped ${i}` }).sys_id!);
      const ctx = await actionContext(servicenow, { ...conn, baseUrl: capped.url }, { cursor: '2000-01-01 00:00:00' });
      const events = (await allPages(servicenow.reconcile!(ctx))).flatMap((p) => p.events);
      assert.deepEqual(events.filter((e) => e.type === 'record.updated').map((e) => e.link.externalId).sort(), [...ids].sort());
    } finally {
      await capped.close();
    }
  });

  it('gets the state model refusal as an HTTP error when implementing an unapproved change', async () => {
    const record = sn.createChange({ short_description: 'Unapproved change', state: '-5' });
    const ctx = await actionContext(servicenow, conn);
    const link = { kind: 'change_request', externalId: record.sys_id! };
    await assert.rejects(actionOf(servicenow, 'sync-state')(actionInput('sync-state', { link, params: { state: 'implementing' } }), ctx), (e: unknown) => e instanceof HttpError && e.status === 403);
  });
});

describe('github against the fake App API', () => {
  let gh: FakeGitHub;
  let conn: ConnectionSettings;
  before(async () => {
    gh = await startFakeGitHub();
    conn = connectionFor('github', {
      baseUrl: gh.url,
      auth: { type: 'github-app', appId: String(gh.appId), privateKey: gh.privateKey, installationId: String(gh.installations[0]!.id) },
      webhook: { secret: 'gh-hook-secret' },
      options: { jira: 'jira-cloud', jiraProjects: ['CHG'] },
    });
  });
  after(() => gh.close());

  async function ctx() {
    const auth = github.auth!(conn, globalThis.fetch);
    return actionContext(github, conn, { authHeaders: () => auth.headers(), cursor: '2000-01-01T00:00:00Z' });
  }

  it('turns the protection rule request into a change and answers the gate once', async () => {
    await gh.sendDeploymentProtectionRule(receiver.url, { secret: 'gh-hook-secret', runId: 555, ref: 'feature/CHG-7-retry' });
    const parsed = await receive(github, conn);
    assert.ok(parsed.status === 'events');
    const event = parsed.events[0]!;
    assert.ok(event.type === 'change.requested');
    assert.deepEqual(event.relatedLinks?.filter((l) => l.kind === 'issue'), [{ kind: 'issue', externalId: 'CHG-7', data: { connection: 'jira-cloud' } }]);

    const c = await ctx();
    const input = actionInput('answer-gate', { link: event.link, params: { outcome: 'approved', reason: 'CAB approved CHG0030012' } });
    assert.equal((await actionOf(github, 'answer-gate')(input, c)).status, 'done');
    assert.equal((await actionOf(github, 'answer-gate')(input, c)).status, 'already-done');
    assert.deepEqual(gh.decisions.map((d) => [d.runId, d.state, d.comment]), [[555, 'approved', 'CAB approved CHG0030012']]);
  });

  it("answers a gate from another installation of the App with that installation's token", async () => {
    const two = await startFakeGitHub({
      privateKey: gh.privateKey,
      installations: [
        { id: 1001, account: 'acme', repositories: ['acme/payments-api'] },
        { id: 2002, account: 'beta', repositories: ['beta/ledger'] },
      ],
    });
    try {
      const tconn = { ...conn, baseUrl: two.url } as ConnectionSettings;
      await two.sendDeploymentProtectionRule(receiver.url, { secret: 'gh-hook-secret', runId: 562, installationId: 2002 });
      const parsed = await receive(github, tconn);
      assert.ok(parsed.status === 'events');
      const c = await actionContext(github, tconn, { authHeaders: () => github.auth!(tconn, globalThis.fetch).headers() });
      const input = actionInput('answer-gate', { link: parsed.events[0]!.link, params: { outcome: 'approved', reason: 'CAB approved' } });
      assert.equal((await actionOf(github, 'answer-gate')(input, c)).status, 'done');
      assert.deepEqual(two.decisions.map((d) => [d.repo, d.runId, d.installationId, d.state]), [['ledger', 562, 2002, 'approved']]);
    } finally {
      await two.close();
    }
  });

  it('sends nothing for a gate whose protection rule timed out (30 days undecided): the run failed, already done', async () => {
    await gh.sendDeploymentProtectionRule(receiver.url, { secret: 'gh-hook-secret', runId: 560 });
    const parsed = await receive(github, conn);
    assert.ok(parsed.status === 'events');
    gh.gates.get('acme/payments-api/560')!.requestedAt -= 30 * 24 * 3600_000;
    const input = actionInput('answer-gate', { link: parsed.events[0]!.link, params: { outcome: 'approved', reason: 'CAB approved, too late' } });
    const result = await actionOf(github, 'answer-gate')(input, await ctx());
    assert.deepEqual([result.status, result.result], ['already-done', { runStatus: 'completed' }]);
    assert.equal(gh.decisions.filter((d) => d.runId === 560).length, 0);
    assert.equal(gh.callsTo('POST', /\/runs\/560\/deployment_protection_rule$/).length, 0);
  });

  it('collects reviews, checks, statuses and code-scanning alerts for the gated commit', async () => {
    const repo = gh.installations[0]!.repositories[0]!;
    const sha = 'a'.repeat(40);
    gh.addReview(repo, 12, { login: 'octocat', state: 'APPROVED' });
    gh.addCheckRun(repo, sha, { name: 'build', status: 'completed', conclusion: 'success' });
    gh.addStatus(repo, sha, { context: 'ci/legacy', state: 'success' });
    gh.addCodeScanningAlert(repo, { severity: 'high' });
    const link = { kind: 'deployment-gate', externalId: `${repo}/runs/556/production`, data: { repository: repo, sha, ref: 'main', pullRequests: [12] } };
    const result = await actionOf(github, 'validate-package')(actionInput('validate-package', { link }), await ctx());
    const artifacts = result.result?.artifacts as Record<string, unknown>;
    assert.deepEqual((artifacts.peerReviews as { reviewer: string; state: string }[]).map((r) => [r.reviewer, r.state]), [['octocat', 'approved']]);
    assert.deepEqual(artifacts.checks, [{ name: 'build', conclusion: 'success' }, { name: 'ci/legacy', conclusion: 'success' }]);
    assert.deepEqual(artifacts.staticAnalysis, { critical: 0, high: 1, medium: 0, low: 0, summary: '1 open code-scanning alert' });
  });

  it('reads every page of check runs and statuses by following the Link URLs GitHub gives (/repositories/{id}/…)', async () => {
    const repo = gh.installations[0]!.repositories[0]!;
    const sha = 'b'.repeat(40);
    for (let i = 0; i < 101; i++) {
      gh.addCheckRun(repo, sha, { name: `job-${i}`, status: 'completed', conclusion: 'success' });
      gh.addStatus(repo, sha, { context: `ci/${i}`, state: 'success' });
    }
    const link = { kind: 'deployment-gate', externalId: `${repo}/runs/558/production`, data: { repository: repo, sha, ref: 'main', pullRequests: [] } };
    const result = await actionOf(github, 'validate-package')(actionInput('validate-package', { link }), await ctx());
    const artifacts = result.result?.artifacts as { checks: unknown[]; combinedStatus: string };
    assert.equal(artifacts.checks.length, 202);
    assert.equal(artifacts.combinedStatus, 'success');
    assert.equal(gh.callsTo('GET', /^\/repositories\/\d+\/commits\/b+\/(check-runs|status)$/).length, 2);
  });

  it('reports code scanning as unavailable when the App was not granted it (403), and still collects the rest', async () => {
    const { security_events: _none, ...granted } = { actions: 'read', checks: 'read', deployments: 'write', metadata: 'read', pull_requests: 'read', statuses: 'read', security_events: 'read' } as const;
    const limited = await startFakeGitHub({ privateKey: gh.privateKey, installations: [{ id: 1002, account: 'acme', repositories: ['acme/payments-api'], permissions: granted }] });
    try {
      const lconn = { ...conn, baseUrl: limited.url, auth: { ...conn.auth, installationId: '1002' } } as ConnectionSettings;
      const sha = 'c'.repeat(40);
      limited.addCheckRun('acme/payments-api', sha, { name: 'build', status: 'completed', conclusion: 'success' });
      const c = await actionContext(github, lconn, { authHeaders: () => github.auth!(lconn, globalThis.fetch).headers() });
      const link = { kind: 'deployment-gate', externalId: 'acme/payments-api/runs/559/production', data: { repository: 'acme/payments-api', sha, ref: 'main', pullRequests: [] } };
      const result = await actionOf(github, 'validate-package')(actionInput('validate-package', { link }), c);
      const artifacts = result.result?.artifacts as Record<string, unknown>;
      assert.deepEqual(artifacts.checks, [{ name: 'build', conclusion: 'success' }]);
      assert.deepEqual(artifacts.staticAnalysis, { critical: 0, high: 0, medium: 0, low: 0, summary: 'code scanning unavailable (403)' });
    } finally {
      await limited.close();
    }
  });

  it('asks GitHub to redeliver a failed protection rule delivery once, with the App JWT', async () => {
    const down = await startReceiver(500);
    try {
      const sent = await gh.sendDeploymentProtectionRule(down.url, { secret: 'gh-hook-secret', runId: 557 });
      assert.equal(sent.status, 500);
      down.answer(202);
      const first = await allPages(github.reconcile!(await ctx()));
      await gh.redeliveriesSent();
      assert.deepEqual(down.received.map((r) => r.headers['x-github-delivery']), [sent.guid, sent.guid]);
      assert.ok(gh.callsTo('GET', /^\/app\/hook\/deliveries$/).every((c) => c.status === 200 && /^Bearer /.test(c.headers.authorization ?? '')));
      // The redelivery succeeded: a later run (from the cursor it returned, or from the start) asks for nothing.
      const cursor = first.at(-1)!.cursor;
      const c = await actionContext(github, conn, { authHeaders: () => github.auth!(conn, globalThis.fetch).headers(), cursor });
      await allPages(github.reconcile!(c));
      await allPages(github.reconcile!(await ctx()));
      assert.equal(gh.callsTo('POST', /^\/app\/hook\/deliveries\/\d+\/attempts$/).length, 1);
    } finally {
      await down.close();
    }
  });
});

describe('jira against the fake site', () => {
  let jr: FakeJira;
  let conn: ConnectionSettings;
  before(async () => {
    jr = await startFakeJira({ profileOffsetMinutes: 60 });
    conn = connectionFor('jira', {
      baseUrl: jr.url,
      auth: { type: 'basic', username: 'hub@acme.example', password: 'jira-api-token' },
      webhook: { secret: 'jira-hook-secret' },
      options: { project: 'CHG', statuses: { approved: 'Awaiting implementation', rejected: 'Declined' }, timeZone: 'Europe/Berlin' },
    });
  });
  after(() => jr.close());

  it('reads a status change from the signed webhook and from search reconciliation', async () => {
    const issue = jr.createIssue({ summary: 'Deploy ledger 3.2.0', labels: ['ledger'] });
    jr.transitionAs('5b10ac8d82e05b22cc7d4ef5', issue.key, 'Approve');
    await jr.sendIssueUpdated(receiver.url, { key: issue.key, secret: 'jira-hook-secret' });
    const parsed = await receive(jira, conn);
    assert.ok(parsed.status === 'events');
    assert.deepEqual(parsed.events.map((e) => [e.type, e.link.externalId, e.type === 'record.updated' ? e.fields.state : null]), [['record.updated', issue.key, 'approved']]);

    const ctx = await actionContext(jira, conn, { now: new Date(), cursor: null });
    const events = (await allPages(jira.reconcile!(ctx))).flatMap((p) => p.events);
    assert.ok(events.some((e) => e.type === 'record.updated' && e.link.externalId === issue.key && e.fields.state === 'approved'));
  });

  it('finds a fresh update when the API user’s profile is west of UTC and options.timeZone is not set', async () => {
    const west = await startFakeJira({ profileOffsetMinutes: -300 });
    try {
      const noZone = connectionFor('jira', { baseUrl: west.url, auth: conn.auth, options: { project: 'CHG' } });
      const issue = west.createIssue({ summary: 'Deploy ledger 3.2.1' });
      west.transitionAs('5b10ac8d82e05b22cc7d4ef5', issue.key, 'Approve');
      const now = new Date();
      const ctx = await actionContext(jira, noZone, { now, cursor: JSON.stringify({ since: new Date(now.getTime() - 60_000).toISOString(), seen: [] }) });
      const events = (await allPages(jira.reconcile!(ctx))).flatMap((p) => p.events);
      assert.ok(events.some((e) => e.type === 'record.updated' && e.link.externalId === issue.key), 'JQL written in UTC would start five hours late');
    } finally {
      await west.close();
    }
  });

  it('reconciles every issue once when search returns fewer issues a page than maxResults asks', async () => {
    let t = Date.parse('2026-11-24T13:00:00Z');
    // A profile west of UTC: Jira answers with times like 2026-11-24T08:00:30.000-0500.
    const short = await startFakeJira({ searchPageSize: 2, profileOffsetMinutes: -300, now: () => t });
    try {
      const shortConn = { ...conn, baseUrl: short.url, options: { ...conn.options, timeZone: 'Etc/GMT+5', readApprovals: false } };
      const keys = [0, 1, 2, 3, 4].map((i) => {
        t += 30_000;
        return short.createIssue({ summary: `Short page ${i}` }).key;
      });
      const first = await allPages(jira.reconcile!(await actionContext(jira, shortConn, { now: new Date(t), cursor: null })));
      const read = first.flatMap((p) => p.events).filter((e) => e.type === 'record.updated').map((e) => e.link.externalId);
      assert.deepEqual(read.sort(), [...keys].sort());
      // Nothing changed since: the next run, from the last cursor, reads the overlap again and reports none of it.
      const again = await allPages(jira.reconcile!(await actionContext(jira, shortConn, { now: new Date(t), cursor: first.at(-1)!.cursor })));
      assert.deepEqual(again.flatMap((p) => p.events), []);
    } finally {
      await short.close();
    }
  });

  it('finds an issue search had not indexed yet on the next run, without reporting the others again', async () => {
    let t = Date.parse('2026-11-24T13:00:00Z');
    // Search is eventually consistent: here an issue is found 20 s after it changed.
    const lagging = await startFakeJira({ searchLagMs: 20_000, now: () => t });
    try {
      const lagConn = { ...conn, baseUrl: lagging.url, options: { ...conn.options, timeZone: 'UTC', readApprovals: false } };
      const indexed = lagging.createIssue({ summary: 'Indexed' }).key;
      t += 50_000;
      const fresh = lagging.createIssue({ summary: 'Not indexed yet' }).key;
      t += 5_000;
      const first = await allPages(jira.reconcile!(await actionContext(jira, lagConn, { now: new Date(t), cursor: null })));
      assert.deepEqual(first.flatMap((p) => p.events).map((e) => e.link.externalId), [indexed]);
      t += 25_000;
      const next = await allPages(jira.reconcile!(await actionContext(jira, lagConn, { now: new Date(t), cursor: first.at(-1)!.cursor })));
      assert.deepEqual(next.flatMap((p) => p.events).map((e) => e.link.externalId), [fresh]);
    } finally {
      await lagging.close();
    }
  });

  it('comments and transitions through the v3 API', async () => {
    const issue = jr.createIssue({ summary: 'Deploy billing 1.4.0' });
    const ctx = await actionContext(jira, conn);
    const link = { kind: 'issue', externalId: issue.key };
    assert.equal((await actionOf(jira, 'comment')(actionInput('comment', { link, params: { message: 'Waiting for CAB' } }), ctx)).status, 'done');
    assert.equal((await actionOf(jira, 'comment')(actionInput('comment', { link, params: { message: 'Waiting for CAB' } }), ctx)).status, 'already-done');
    // Blank lines become empty paragraphs, never the empty text nodes ADF refuses.
    const lines = actionInput('comment', { idempotencyKey: 'lines', link, params: { message: 'Waiting for CAB\n\nRun 3410\n' } });
    assert.equal((await actionOf(jira, 'comment')(lines, ctx)).status, 'done');
    const moved = await actionOf(jira, 'transition')(actionInput('transition', { link, params: { state: 'rejected' } }), ctx);
    assert.deepEqual(moved.result, { status: 'Declined', transitionId: '41' });
  });

  it('answers a JSM approval only where the hub account is the approver', async () => {
    const issue = jr.createIssue({ summary: 'Deploy search 7.1' });
    const ctx = await actionContext(jira, conn);
    const link = { kind: 'issue', externalId: issue.key };
    jr.addApproval(issue.key, 'Change manager approval', ['5b10ac8d82e05b22cc7d4ef5']);
    await assert.rejects(actionOf(jira, 'record-decision')(actionInput('record-decision', { link, params: { outcome: 'approve' } }), ctx), /the hub's Jira account is not an approver/);

    const other = jr.createIssue({ summary: 'Deploy search 7.2' });
    const approval = jr.addApproval(other.key, 'Change manager approval', ['712020:hub-bot']);
    const done = await actionOf(jira, 'record-decision')(
      actionInput('record-decision', { link: { kind: 'issue', externalId: other.key }, params: { outcome: 'approve', rationale: 'Approved in ServiceNow' } }),
      ctx,
    );
    assert.deepEqual(done.result, { approvalId: approval.id, decision: 'approved' });
    assert.equal(jr.approvals.find((a) => a.id === approval.id)?.finalDecision, 'approved');
  });
});
