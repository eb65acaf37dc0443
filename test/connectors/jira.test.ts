// Jira / JSM connector: signature checks, actions and search reconciliation against msw. Responses are
// the shared vendor payloads (connectors/jira/fixtures/responses/jsm-approvals-list.json is
// /work/shared/vendor-payloads/jsm-approvals-list.json; issues come from the issue_updated fixture).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import jira from '../../connectors/jira/index.ts';
import { HttpError } from '../../src/sdk/index.ts';
import { actionContext, actionInput, actionOf, allPages } from './support/context.ts';
import { connectionFor, parseContext, root } from './support/fixtures.ts';

const J = 'https://acme.atlassian.net';
const server = setupServer();
before(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
after(() => server.close());

const conn = connectionFor('jira', {
  baseUrl: J,
  auth: { type: 'basic', username: 'hub@acme.example', password: 'api-token' },
  webhook: { secret: 'jira-secret' },
  options: { project: 'CHG', statuses: { approved: 'Awaiting implementation', rejected: 'Declined' }, timeZone: 'Europe/Berlin' },
});
const link = { kind: 'issue', externalId: 'CHG-42', data: { id: '10042' } };
const read = async (path: string) => JSON.parse(await readFile(join(root, path), 'utf8')) as Record<string, unknown>;
const approvalsList = () => read('connectors/jira/fixtures/responses/jsm-approvals-list.json') as Promise<{ values: Record<string, unknown>[] }>;
const issueFixture = async () => (await read('connectors/jira/fixtures/deliveries/issue-status-approved/body.json')).issue as { id: string; key: string; self: string; fields: Record<string, unknown> };

describe('jira webhook verification', () => {
  const body = '{"webhookEvent":"jira:issue_updated"}';
  const d = (headers: Record<string, string>) => ({ rawBody: Buffer.from(body), headers, receivedAt: new Date() });
  const sig = (secret: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

  it('accepts X-Hub-Signature made with the connection secret', () => {
    assert.deepEqual(jira.webhook!.verify(d({ 'x-hub-signature': sig('jira-secret') }), conn), { ok: true });
  });
  it('refuses a signature made with another secret', () => {
    assert.deepEqual(jira.webhook!.verify(d({ 'x-hub-signature': sig('nope') }), conn), { ok: false, reason: 'x-hub-signature does not match the body' });
  });
  it('does not accept GitHub’s header name in place of Jira’s', () => {
    assert.deepEqual(jira.webhook!.verify(d({ 'x-hub-signature-256': sig('jira-secret') }), conn), { ok: false, reason: 'missing x-hub-signature header' });
  });
  it('refuses a sha1 signature', () => {
    assert.deepEqual(jira.webhook!.verify(d({ 'x-hub-signature': 'sha1=abc' }), conn), { ok: false, reason: 'x-hub-signature is not a sha256= signature' });
  });
});

describe('jira comment and transition', () => {
  it('comments with an ADF body carrying the idempotency key, and finds it on a retry', async () => {
    const comments: Record<string, unknown>[] = [];
    server.use(
      http.get(`${J}/rest/api/3/issue/CHG-42/comment`, ({ request }) => {
        assert.equal(new URL(request.url).searchParams.get('expand'), 'properties');
        return HttpResponse.json({ startAt: 0, maxResults: 50, total: comments.length, comments });
      }),
      http.post(`${J}/rest/api/3/issue/CHG-42/comment`, async ({ request }) => {
        const body = (await request.json()) as Record<string, unknown>;
        comments.push({ id: '10100', ...body });
        return HttpResponse.json({ id: '10100', body: body.body, created: '2024-11-24T14:21:00.000+0100' }, { status: 201 });
      }),
    );
    const ctx = await actionContext(jira, conn);
    const input = actionInput('comment', { idempotencyKey: 'chg_1:announce:3', link, params: { message: 'Change approved by CAB\nDeploy window 14:00-15:00 UTC' } });
    assert.deepEqual(await actionOf(jira, 'comment')(input, ctx), { status: 'done', link, result: { commentId: '10100' } });
    assert.deepEqual(comments[0], {
      id: '10100',
      body: {
        type: 'doc', version: 1,
        content: [
          { type: 'paragraph', content: [{ type: 'text', text: 'Change approved by CAB' }] },
          { type: 'paragraph', content: [{ type: 'text', text: 'Deploy window 14:00-15:00 UTC' }] },
        ],
      },
      properties: [{ key: 'approval-hub', value: { idempotencyKey: 'chg_1:announce:3' } }],
    });
    assert.equal((await actionOf(jira, 'comment')(input, ctx)).status, 'already-done');
    assert.equal(comments.length, 1);
  });

  it('finds its comment on a retry through POST /rest/api/3/comment/list?expand=properties when the issue’s comment page has no properties', async () => {
    // Stored as Jira keeps them; GET .../comment documents only `renderedBody` as an expand, so its page
    // carries no properties; POST /rest/api/3/comment/list documents `properties`.
    const stored: { id: string; body: unknown; properties: unknown[] }[] = [];
    const render = (c: (typeof stored)[number]) => ({ self: `${J}/rest/api/3/issue/10042/comment/${c.id}`, id: c.id, body: c.body, created: '2024-11-24T14:21:00.000+0100', updated: '2024-11-24T14:21:00.000+0100', jsdPublic: true });
    const listed: unknown[] = [];
    server.use(
      http.get(`${J}/rest/api/3/issue/CHG-42/comment`, () => HttpResponse.json({ startAt: 0, maxResults: 50, total: stored.length, comments: stored.map(render) })),
      http.post(`${J}/rest/api/3/issue/CHG-42/comment`, async ({ request }) => {
        const body = (await request.json()) as { body: unknown; properties?: unknown[] };
        stored.push({ id: String(10100 + stored.length), body: body.body, properties: body.properties ?? [] });
        return HttpResponse.json(render(stored.at(-1)!), { status: 201 });
      }),
      http.post(`${J}/rest/api/3/comment/list`, async ({ request }) => {
        assert.equal(new URL(request.url).searchParams.get('expand'), 'properties');
        const { ids } = (await request.json()) as { ids: number[] };
        listed.push(ids);
        const values = stored.filter((c) => ids.includes(Number(c.id))).map((c) => ({ ...render(c), properties: c.properties }));
        return HttpResponse.json({ maxResults: 1000, startAt: 0, total: values.length, isLast: true, values });
      }),
    );
    const ctx = await actionContext(jira, conn);
    const input = actionInput('comment', { idempotencyKey: 'chg_1:announce:4', link, params: { message: 'Change approved by CAB' } });
    assert.deepEqual(await actionOf(jira, 'comment')(input, ctx), { status: 'done', link, result: { commentId: '10100' } });
    assert.deepEqual(await actionOf(jira, 'comment')(input, ctx), { status: 'already-done', link, result: { commentId: '10100' } });
    assert.equal(stored.length, 1);
    assert.deepEqual(listed, [[10100]]);
  });

  it('picks the transition whose target status is configured for the state and posts it', async () => {
    let posted: unknown = null;
    server.use(
      http.get(`${J}/rest/api/3/issue/CHG-42`, () => HttpResponse.json({ id: '10042', key: 'CHG-42', fields: { status: { name: 'Awaiting approval' } } })),
      http.get(`${J}/rest/api/3/issue/CHG-42/transitions`, () =>
        HttpResponse.json({
          expand: 'transitions',
          transitions: [
            { id: '21', name: 'Decline', to: { id: '10006', name: 'Declined' }, isAvailable: true },
            { id: '31', name: 'Approve', to: { id: '10005', name: 'Awaiting implementation' }, isAvailable: true },
          ],
        }),
      ),
      http.post(`${J}/rest/api/3/issue/CHG-42/transitions`, async ({ request }) => {
        posted = await request.json();
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const ctx = await actionContext(jira, conn);
    const result = await actionOf(jira, 'transition')(actionInput('transition', { link, params: { state: 'approved' } }), ctx);
    assert.deepEqual(result, { status: 'done', link, result: { status: 'Awaiting implementation', transitionId: '31' } });
    assert.deepEqual(posted, { transition: { id: '31' } });
  });

  it('does nothing when the issue already shows the configured status', async () => {
    server.use(http.get(`${J}/rest/api/3/issue/CHG-42`, () => HttpResponse.json({ fields: { status: { name: 'Awaiting implementation' } } })));
    const ctx = await actionContext(jira, conn);
    const result = await actionOf(jira, 'transition')(actionInput('transition', { link, params: { state: 'approved' } }), ctx);
    assert.deepEqual(result, { status: 'already-done', link, result: { status: 'Awaiting implementation' } });
  });

  it('refuses permanently when no available transition leads to the status, naming what is available', async () => {
    server.use(
      http.get(`${J}/rest/api/3/issue/CHG-42`, () => HttpResponse.json({ fields: { status: { name: 'Implementing' } } })),
      http.get(`${J}/rest/api/3/issue/CHG-42/transitions`, () => HttpResponse.json({ transitions: [{ id: '41', name: 'Complete', to: { id: '10007', name: 'Review' } }] })),
    );
    const ctx = await actionContext(jira, conn);
    await assert.rejects(actionOf(jira, 'transition')(actionInput('transition', { link, params: { state: 'rejected' } }), ctx), {
      name: 'PermanentError',
      message: 'issue CHG-42 has no transition to "Declined" from "Implementing" (available: Complete → Review)',
    });
  });
});

/** A request's comment page with nothing on it (servicedeskapi PagedDTO). */
const noComments = { size: 0, start: 0, limit: 100, isLastPage: true, values: [] };

describe('jsm approvals', () => {
  it('answers the pending approval as the hub account and posts the reason as an internal comment', async () => {
    const list = await approvalsList();
    const calls: [string, unknown][] = [];
    server.use(
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, () => HttpResponse.json(list)),
      http.post(`${J}/rest/servicedeskapi/request/CHG-42/approval/7`, async ({ request }) => {
        calls.push(['decision', await request.json()]);
        return HttpResponse.json({ ...list.values[0], finalDecision: 'declined' });
      }),
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/comment`, () => HttpResponse.json(noComments)),
      http.post(`${J}/rest/servicedeskapi/request/CHG-42/comment`, async ({ request }) => {
        calls.push(['comment', await request.json()]);
        return HttpResponse.json({ id: '1' }, { status: 201 });
      }),
    );
    const ctx = await actionContext(jira, conn);
    const result = await actionOf(jira, 'record-decision')(actionInput('record-decision', { link, params: { outcome: 'reject', rationale: 'Rejected in ServiceNow CAB: freeze' } }), ctx);
    assert.deepEqual(result, { status: 'done', link, result: { approvalId: '7', decision: 'declined' } });
    assert.deepEqual(calls, [
      ['decision', { decision: 'decline' }],
      ['comment', { body: 'Declined via approval-hub: Rejected in ServiceNow CAB: freeze', public: false }],
    ]);
  });

  it('says plainly that only an assigned approver can answer when the hub account is not one', async () => {
    const list = await approvalsList();
    list.values[0]!.canAnswerApproval = false;
    server.use(
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, () => HttpResponse.json(list)),
      http.get(`${J}/rest/api/3/myself`, () => HttpResponse.json({ accountId: '712020:hub-bot', accountType: 'atlassian', displayName: 'Approval Hub', active: true, timeZone: 'UTC' })),
    );
    const ctx = await actionContext(jira, conn);
    await assert.rejects(actionOf(jira, 'record-decision')(actionInput('record-decision', { link, params: { outcome: 'approve' } }), ctx), (e: Error) => {
      assert.equal(e.name, 'PermanentError');
      assert.match(e.message, /the hub's Jira account is not an approver of "Change manager approval"; JSM accepts answers only from assigned approvers/);
      return true;
    });
  });

  it('answers the pending approval assigned to the hub account when another pending one is not', async () => {
    const list = await approvalsList();
    const notMine = { ...list.values[0], id: '6', name: 'Security approval', canAnswerApproval: false };
    const posted: string[] = [];
    server.use(
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, () => HttpResponse.json({ ...list, size: 2, values: [notMine, list.values[0]] })),
      http.post(`${J}/rest/servicedeskapi/request/CHG-42/approval/:id`, ({ params }) => {
        posted.push(String(params.id));
        return HttpResponse.json({ ...list.values[0], finalDecision: 'approved' });
      }),
    );
    const ctx = await actionContext(jira, conn);
    const result = await actionOf(jira, 'record-decision')(actionInput('record-decision', { link, params: { outcome: 'approve' } }), ctx);
    assert.deepEqual(result, { status: 'done', link, result: { approvalId: '7', decision: 'approved' } });
    assert.deepEqual(posted, ['7']);
  });

  it('treats a retried job whose answer Jira already took as done while the approval waits for other approvers', async () => {
    const list = await approvalsList();
    const first = list.values[0]!;
    const mia = (first.approvers as Record<string, unknown>[])[0]!;
    const hub = { approver: { ...(mia.approver as object), accountId: '712020:hub-bot', displayName: 'Approval Hub' }, approverDecision: 'approved' };
    // "At least 2 approvers": the hub's answer is in, Mia's is not, so the approval is still pending and
    // canAnswerApproval is false for the hub's account now that it has answered.
    const waiting = { ...first, canAnswerApproval: false, approvers: [hub, mia] };
    const posted: unknown[] = [];
    server.use(
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, () => HttpResponse.json({ ...list, values: [waiting] })),
      http.get(`${J}/rest/api/3/myself`, () => HttpResponse.json({ accountId: '712020:hub-bot', accountType: 'atlassian', displayName: 'Approval Hub', active: true, timeZone: 'UTC' })),
      http.post(`${J}/rest/servicedeskapi/request/CHG-42/approval/7`, async ({ request }) => {
        posted.push(await request.json());
        return HttpResponse.json({ errorMessages: ['You have already answered this approval.'], errors: {} }, { status: 400 });
      }),
    );
    const ctx = await actionContext(jira, conn);
    const result = await actionOf(jira, 'record-decision')(actionInput('record-decision', { link, params: { outcome: 'approve' } }), ctx);
    assert.deepEqual(result, { status: 'already-done', link, result: { approvalId: '7', decision: 'approved' } });
    assert.deepEqual(posted, []);
  });

  it('finds its answer in when JSM refuses it as already given (another hub process answered since the list was read)', async () => {
    const list = await approvalsList();
    const first = list.values[0]!;
    const mia = (first.approvers as Record<string, unknown>[])[0]!;
    const hub = { approver: { ...(mia.approver as object), accountId: '712020:hub-bot', displayName: 'Approval Hub' } };
    let lists = 0;
    const calls: string[] = [];
    server.use(
      // The first read still shows the approval open to the hub; by the second the other process's answer is in.
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, () => {
        const answered = lists++ > 0;
        return HttpResponse.json({ ...list, values: [{ ...first, canAnswerApproval: !answered, approvers: [{ ...hub, approverDecision: answered ? 'approved' : 'pending' }, mia] }] });
      }),
      http.get(`${J}/rest/api/3/myself`, () => HttpResponse.json({ accountId: '712020:hub-bot', accountType: 'atlassian', displayName: 'Approval Hub', active: true, timeZone: 'UTC' })),
      http.post(`${J}/rest/servicedeskapi/request/CHG-42/approval/7`, () => {
        calls.push('decision');
        return HttpResponse.json({ errorMessage: 'You have already answered this approval.', i18nErrorMessage: { i18nKey: 'sd.approval.already.answered', parameters: [] } }, { status: 400 });
      }),
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/comment`, () => HttpResponse.json(noComments)),
      http.post(`${J}/rest/servicedeskapi/request/CHG-42/comment`, () => {
        calls.push('comment');
        return HttpResponse.json({ id: '1' }, { status: 201 });
      }),
    );
    const ctx = await actionContext(jira, conn);
    const result = await actionOf(jira, 'record-decision')(actionInput('record-decision', { link, params: { outcome: 'approve', rationale: 'CAB approved' } }), ctx);
    assert.deepEqual(result, { status: 'done', link, result: { approvalId: '7', decision: 'approved' } });
    assert.deepEqual(calls, ['decision', 'comment']);
  });

  it('on a retried job whose answer is in, posts the reason the first attempt did not get to, and only once', async () => {
    const list = await approvalsList();
    const first = list.values[0]!;
    const mia = (first.approvers as Record<string, unknown>[])[0]!;
    const hub = { approver: { ...(mia.approver as object), accountId: '712020:hub-bot', displayName: 'Approval Hub' }, approverDecision: 'approved' };
    const comments: { id: string; body: string; public: boolean }[] = [];
    server.use(
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, () => HttpResponse.json({ ...list, values: [{ ...first, canAnswerApproval: false, approvers: [hub, mia] }] })),
      http.get(`${J}/rest/api/3/myself`, () => HttpResponse.json({ accountId: '712020:hub-bot', accountType: 'atlassian', displayName: 'Approval Hub', active: true, timeZone: 'UTC' })),
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/comment`, () => HttpResponse.json({ ...noComments, size: comments.length, values: comments })),
      http.post(`${J}/rest/servicedeskapi/request/CHG-42/comment`, async ({ request }) => {
        const b = (await request.json()) as { body: string; public: boolean };
        comments.push({ id: String(comments.length + 1), ...b });
        return HttpResponse.json({ id: String(comments.length) }, { status: 201 });
      }),
    );
    const ctx = await actionContext(jira, conn);
    const input = actionInput('record-decision', { link, params: { outcome: 'approve', rationale: 'CAB approved' } });
    assert.equal((await actionOf(jira, 'record-decision')(input, ctx)).status, 'already-done');
    assert.equal((await actionOf(jira, 'record-decision')(input, ctx)).status, 'already-done');
    assert.deepEqual(comments, [{ id: '1', body: 'Approved via approval-hub: CAB approved', public: false }]);
  });

  it('does not send its answer again after a 503 (JSM may have taken it): the job\'s retry looks first', async () => {
    const list = await approvalsList();
    let posts = 0;
    server.use(
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, () => HttpResponse.json(list)),
      http.post(`${J}/rest/servicedeskapi/request/CHG-42/approval/7`, () => {
        posts++;
        return HttpResponse.json({ errorMessages: ['Service unavailable'], errors: {} }, { status: 503 });
      }),
    );
    // Retries on, as in production: a GET would be sent again, this POST is not.
    const ctx = await actionContext(jira, conn, { retries: 2 });
    await assert.rejects(actionOf(jira, 'record-decision')(actionInput('record-decision', { link, params: { outcome: 'approve' } }), ctx), (e: unknown) => e instanceof HttpError && e.status === 503);
    assert.equal(posts, 1);
  });

  it('gives the approver refusal when Jira answers 403 to the decision', async () => {
    const list = await approvalsList();
    server.use(
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, () => HttpResponse.json(list)),
      http.get(`${J}/rest/api/3/myself`, () => HttpResponse.json({ accountId: '712020:hub-bot', accountType: 'atlassian', displayName: 'Approval Hub', active: true, timeZone: 'UTC' })),
      http.post(`${J}/rest/servicedeskapi/request/CHG-42/approval/7`, () =>
        HttpResponse.json({ errorMessages: ['You are not an approver on this request.'], errors: {} }, { status: 403 }),
      ),
    );
    const ctx = await actionContext(jira, conn);
    await assert.rejects(actionOf(jira, 'record-decision')(actionInput('record-decision', { link, params: { outcome: 'approve' } }), ctx), (e: Error) => {
      assert.equal(e.name, 'PermanentError');
      assert.match(e.message, /the hub's Jira account is not an approver of "Change manager approval"; JSM accepts answers only from assigned approvers.*\(Jira: .*You are not an approver on this request\.\)$/);
      return true;
    });
  });

  it('treats an approval already answered the same way as done', async () => {
    const list = await approvalsList();
    list.values[0]!.finalDecision = 'approved';
    server.use(http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, () => HttpResponse.json(list)));
    const ctx = await actionContext(jira, conn);
    const result = await actionOf(jira, 'record-decision')(actionInput('record-decision', { link, params: { outcome: 'approve' } }), ctx);
    assert.equal(result.status, 'already-done');
  });

  it('reads approvals back as canonical decisions', async () => {
    const list = await approvalsList();
    const first = list.values[0]!;
    const answered = { ...first, finalDecision: 'approved', approvers: [{ ...(first.approvers as object[])[0], approverDecision: 'approved' }], completedDate: { iso8601: '2024-11-24T14:25:00+0100' } };
    server.use(http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, () => HttpResponse.json({ ...list, values: [answered] })));
    const ctx = await actionContext(jira, conn);
    const result = await actionOf(jira, 'read-approvals')(actionInput('read-approvals', { link }), ctx);
    assert.deepEqual(result.result?.approvals, [{ id: '7', name: 'Change manager approval', finalDecision: 'approved', canAnswerApproval: true }]);
    const decisions = result.result?.decisions as { outcome: string; actor: string; at: string }[];
    assert.deepEqual(decisions.map((d) => [d.outcome, d.actor, d.at]), [['approve', '5b10ac8d82e05b22cc7d4ef5', '2024-11-24T13:25:00.000Z']]);
  });
});

describe('jira reconcile', () => {
  it('searches with explicit fields and a one-minute overlap, follows nextPageToken and skips issues already seen', async () => {
    const issue = await issueFixture();
    const older = { ...issue, id: '10041', key: 'CHG-41', fields: { ...issue.fields, updated: '2024-11-24T14:00:30.000+0100' } };
    const seenBefore = { ...issue, id: '10040', key: 'CHG-40', fields: { ...issue.fields, updated: '2024-11-24T13:59:10.000+0100' } };
    const requests: URLSearchParams[] = [];
    const list = await approvalsList();
    server.use(
      http.get(`${J}/rest/api/3/search/jql`, ({ request }) => {
        const q = new URL(request.url).searchParams;
        requests.push(q);
        if (!q.get('nextPageToken')) return HttpResponse.json({ issues: [seenBefore, older], nextPageToken: 'tok-2', isLast: false });
        return HttpResponse.json({ issues: [issue], isLast: true });
      }),
      // No approvals field configured: the approvals are read per request; these have none answered.
      http.get(`${J}/rest/servicedeskapi/request/:key/approval`, () => HttpResponse.json({ ...list, size: 0, values: [] })),
    );
    const cursor = JSON.stringify({ since: '2024-11-24T12:59:10.000Z', seen: ['10040@2024-11-24T13:59:10.000+0100'] });
    const ctx = await actionContext(jira, conn, { cursor });
    const pages = await allPages(jira.reconcile!(ctx));
    assert.equal(requests.length, 2);
    // 12:59:10Z is 13:59 in Berlin; one minute earlier for JQL's minute resolution.
    assert.equal(requests[0]!.get('jql'), '(project = "CHG") AND updated >= "2024-11-24 13:58" ORDER BY updated ASC');
    assert.equal(requests[0]!.get('fields'), 'summary,status,updated,created,description,reporter,labels,project');
    assert.equal(requests[1]!.get('nextPageToken'), 'tok-2');
    const events = pages.flatMap((p) => p.events);
    assert.deepEqual(events.map((e) => [e.type, e.link.externalId, e.type === 'record.updated' ? e.fields.state : null]), [
      ['record.updated', 'CHG-41', 'approved'],
      ['record.updated', 'CHG-42', 'approved'],
    ]);
    assert.deepEqual(JSON.parse(pages.at(-1)!.cursor), { since: '2024-11-24T13:20:00.118Z', seen: ['10042@2024-11-24T14:20:00.118+0100'] });
  });

  it('does not report again an issue the next query returns because of its minute-resolution start', async () => {
    const issue = await issueFixture();
    const a = { ...issue, id: '10041', key: 'CHG-41', fields: { ...issue.fields, updated: '2024-11-24T14:19:30.000+0100' } };
    const b = { ...issue, id: '10042', key: 'CHG-42', fields: { ...issue.fields, updated: '2024-11-24T14:20:50.000+0100' } };
    const jql: string[] = [];
    const list = await approvalsList();
    server.use(
      http.get(`${J}/rest/api/3/search/jql`, ({ request }) => {
        jql.push(new URL(request.url).searchParams.get('jql')!);
        return HttpResponse.json({ issues: [a, b], isLast: true });
      }),
      http.get(`${J}/rest/servicedeskapi/request/:key/approval`, () => HttpResponse.json({ ...list, size: 0, values: [] })),
    );
    const first = await allPages(jira.reconcile!(await actionContext(jira, conn, { cursor: JSON.stringify({ since: '2024-11-24T13:19:00.000Z', seen: [] }) })));
    assert.deepEqual(first.flatMap((p) => p.events).map((e) => e.link.externalId), ['CHG-41', 'CHG-42']);
    const second = await allPages(jira.reconcile!(await actionContext(jira, conn, { cursor: first.at(-1)!.cursor })));
    // 13:20:50Z less the minute of overlap is 14:19:50 in Berlin; JQL reads "14:19", so CHG-41 (14:19:30) comes back.
    assert.equal(jql[1], '(project = "CHG") AND updated >= "2024-11-24 14:19" ORDER BY updated ASC');
    assert.deepEqual(second.flatMap((p) => p.events).map((e) => e.link.externalId), []);
  });

  it('without options.timeZone, writes the JQL date in the time zone of the API user’s profile (GET /rest/api/3/myself)', async () => {
    const noZone = connectionFor('jira', { baseUrl: J, auth: conn.auth, options: { project: 'CHG' } });
    const jql: string[] = [];
    server.use(
      // The user object as Jira renders it (cf. `user` in vendor-payloads/jira-issue_updated.json).
      http.get(`${J}/rest/api/3/myself`, () =>
        HttpResponse.json({ accountId: '712020:hub-bot', accountType: 'atlassian', displayName: 'Approval Hub', active: true, timeZone: 'America/New_York', locale: 'en_US' }),
      ),
      http.get(`${J}/rest/api/3/search/jql`, ({ request }) => {
        jql.push(new URL(request.url).searchParams.get('jql')!);
        return HttpResponse.json({ issues: [], isLast: true });
      }),
    );
    const ctx = await actionContext(jira, noZone, { cursor: JSON.stringify({ since: '2024-11-24T12:59:10.000Z', seen: [] }) });
    await allPages(jira.reconcile!(ctx));
    // 12:59:10Z is 07:59 in New York; read as UTC, "12:58" would be 17:58Z there and skip five hours of updates.
    assert.deepEqual(jql, ['(project = "CHG") AND updated >= "2024-11-24 07:58" ORDER BY updated ASC']);
  });

  it('without the approvals field, reads JSM approvals page by page (start/limit/isLastPage) and puts the decision before the status', async () => {
    const issue = await issueFixture(); // CHG-42, moved to Awaiting implementation by the approval
    const list = await approvalsList();
    const first = list.values[0]!;
    const approver = (first.approvers as { approver: Record<string, unknown> }[])[0]!;
    const pending = { ...first, id: '6', name: 'Security approval' };
    const answered = {
      ...first,
      finalDecision: 'approved',
      approvers: [{ approver: { ...approver.approver, accountId: '712020:5f9a3c2e-7d41-4b8e-9a1c-2e6f0b7d4c11', displayName: 'Priya Natarajan' }, approverDecision: 'approved' }],
      completedDate: { iso8601: '2024-11-24T14:19:00+0100', jira: '2024-11-24T14:19:00+0100', friendly: 'Today 2:19 PM', epochMillis: 1732454340000 },
    };
    const approvalQueries: URLSearchParams[] = [];
    server.use(
      http.get(`${J}/rest/api/3/search/jql`, () => HttpResponse.json({ issues: [issue], isLast: true })),
      http.get(`${J}/rest/servicedeskapi/request/CHG-42/approval`, ({ request }) => {
        const q = new URL(request.url).searchParams;
        approvalQueries.push(q);
        // JSM may return fewer than the limit asked for; isLastPage says whether more follow.
        if (q.get('start') === '0') return HttpResponse.json({ ...list, size: 1, start: 0, limit: 50, isLastPage: false, values: [pending] });
        return HttpResponse.json({ ...list, size: 1, start: 1, limit: 50, isLastPage: true, values: [answered] });
      }),
    );
    const ctx = await actionContext(jira, conn, { cursor: JSON.stringify({ since: '2024-11-24T12:00:00Z', seen: [] }) });
    const events = (await allPages(jira.reconcile!(ctx))).flatMap((p) => p.events);
    assert.deepEqual(approvalQueries.map((q) => [q.get('start'), q.get('limit')]), [['0', '50'], ['1', '50']]);
    assert.deepEqual(events.map((e) => e.type), ['decision.recorded', 'record.updated']);
    const decision = events[0] as unknown as { outcome: string; actor: string; at: string; link: { externalId: string; data: { approvalId: string } } };
    assert.equal(decision.outcome, 'approve');
    assert.equal(decision.actor, '712020:5f9a3c2e-7d41-4b8e-9a1c-2e6f0b7d4c11', 'the account id; the directory names the person');
    assert.equal(decision.at, '2024-11-24T13:19:00.000Z');
    assert.equal(decision.link.externalId, 'CHG-42');
    assert.equal(decision.link.data.approvalId, '7');
  });

  it('skips a request whose approvals Jira will not show (a plain issue: 404) and reads no approvals for a request past its approval', async () => {
    const issue = await issueFixture();
    const implementing = { ...issue, id: '10043', key: 'CHG-43', fields: { ...issue.fields, status: { ...(issue.fields.status as object), name: 'Implementing' } } };
    const asked: string[] = [];
    server.use(
      http.get(`${J}/rest/api/3/search/jql`, () => HttpResponse.json({ issues: [issue, implementing], isLast: true })),
      http.get(`${J}/rest/servicedeskapi/request/:key/approval`, ({ params }) => {
        asked.push(String(params.key));
        return HttpResponse.json({ errorMessage: 'Request does not exist or you do not have permission to see it.', i18nErrorMessage: { i18nKey: 'sd.request.error.not.found', parameters: [] } }, { status: 404 });
      }),
    );
    const ctx = await actionContext(jira, conn, { cursor: JSON.stringify({ since: '2024-11-24T12:00:00Z', seen: [] }) });
    const events = (await allPages(jira.reconcile!(ctx))).flatMap((p) => p.events);
    assert.deepEqual(asked, ['CHG-42']);
    assert.deepEqual(events.map((e) => [e.type, e.link.externalId]), [['record.updated', 'CHG-42'], ['record.updated', 'CHG-43']]);
    assert.ok(ctx.log.entries.some((l) => l.level === 'warn' && l.msg === 'jsm approvals not readable; skipped'));
  });

  it('reads no approvals when the approvals field carries them', async () => {
    const withField = connectionFor('jira', {
      baseUrl: J,
      auth: { type: 'basic', username: 'hub@acme.example', password: 'api-token' },
      options: { ...conn.options, approvalsField: 'customfield_10027' },
    });
    const issue = await issueFixture();
    server.use(http.get(`${J}/rest/api/3/search/jql`, () => HttpResponse.json({ issues: [{ ...issue, fields: { ...issue.fields, customfield_10027: [] } }], isLast: true })));
    const ctx = await actionContext(jira, withField, { cursor: JSON.stringify({ since: '2024-11-24T12:00:00Z', seen: [] }) });
    const events = (await allPages(jira.reconcile!(ctx))).flatMap((p) => p.events);
    assert.deepEqual(events.map((e) => e.type), ['record.updated']);
  });

  it('surfaces a 429 with Retry-After as HttpError.retryAfterMs', async () => {
    server.use(
      http.get(`${J}/rest/api/3/search/jql`, () =>
        HttpResponse.json({ errorMessages: ['Rate limit exceeded.'], errors: {} }, { status: 429, headers: { 'Retry-After': '12', 'RateLimit-Reason': 'jira-burst-based' } }),
      ),
    );
    const ctx = await actionContext(jira, conn, { cursor: JSON.stringify({ since: '2024-11-24T12:00:00Z', seen: [] }) });
    await assert.rejects(allPages(jira.reconcile!(ctx)), (e: unknown) => e instanceof HttpError && e.status === 429 && e.retryAfterMs === 12_000);
  });
});

describe('jira issue_created → change.requested', () => {
  const created = async (fields: Record<string, unknown>) => {
    const body = await read('connectors/jira/fixtures/deliveries/issue-created-change/body.json');
    const issue = body.issue as { fields: Record<string, unknown> };
    issue.fields = { ...issue.fields, ...fields };
    return { rawBody: Buffer.from(JSON.stringify(body)), headers: {}, receivedAt: new Date() };
  };
  const typeOnly = connectionFor('jira', { baseUrl: J, options: { changeIssueTypes: ['Change', 'Emergency change'] } });

  it('raises a change for a change issue type in any project when only changeIssueTypes is set', async () => {
    const d = await created({ project: { key: 'ITOPS' }, issuetype: { name: 'Emergency change' } });
    const parsed = jira.parse!(d, await parseContext(typeOnly, jira.mappingKinds!));
    assert.equal(parsed.status, 'events');
    const [event] = (parsed as { events: { type: string; change: Record<string, unknown>; link: { externalId: string } }[] }).events;
    assert.equal(event!.type, 'change.requested');
    assert.equal(event!.link.externalId, 'CHG-42');
    assert.equal(event!.change.title, 'Deploy payments-api 2.14.0 to production');
    assert.equal(event!.change.team, 'payments');
    assert.equal('state' in event!.change, false, 'the hub, not the Jira status, decides the change state');
  });
  it('ignores another issue type, naming what it would raise changes for', async () => {
    const d = await created({ issuetype: { name: 'Service request' } });
    assert.deepEqual(jira.parse!(d, await parseContext(typeOnly, jira.mappingKinds!)), {
      status: 'ignored',
      reason: 'issue CHG-42 created in project CHG as "Service request": changes are raised only for issue type Change or Emergency change',
    });
  });
  it('fails naming the field when the issue has no summary', async () => {
    const d = await created({ summary: null });
    const parsed = jira.parse!(d, await parseContext(typeOnly, jira.mappingKinds!));
    assert.equal(parsed.status, 'failed');
    assert.match((parsed as { reason: string }).reason, /^issue CHG-42: field title: /);
  });
});
