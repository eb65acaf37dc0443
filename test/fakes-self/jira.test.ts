// The fake Jira keeps the REST v3 and JSM contracts: ADF comments, 204 transitions, /search/jql
// paging with nextPageToken, approver-only approval decisions, signed issue_updated webhooks.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { HttpError, VendorFacts } from '../../src/sdk/index.ts';
import { startFakeJira, type FakeJira } from '../fakes/jira.ts';
import { startReceiver } from '../fakes/receiver.ts';
import { all, clientOn, secret, sharedClock } from './support.ts';

const facts = (pagination: VendorFacts['pagination']): VendorFacts => ({ pagination, retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] });
const clock = sharedClock();
let jira: FakeJira;
const hub = (pagination: VendorFacts['pagination'] = 'next-page-token') =>
  clientOn(jira.url, { type: 'basic', username: 'hub@acme.example', password: secret('jira-api-token') }, facts(pagination), clock);
const mia = () => clientOn(jira.url, { type: 'basic', username: 'mia.krystof@acme.example', password: secret('mia-api-token') }, facts('start-limit'), clock);
const adf = (text: string) => ({ type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });
const fail = (p: Promise<unknown>) => p.then(() => assert.fail('expected an error'), (e: unknown) => e as HttpError);

before(async () => {
  jira = await startFakeJira({ now: clock.now });
});
after(() => jira.close());

describe('fake Jira', () => {
  it('requires Basic email:api_token and answers 401 with errorMessages otherwise', async () => {
    const res = await fetch(`${jira.url}/rest/api/3/issue/CHG-1`, { headers: { authorization: `Basic ${Buffer.from('hub@acme.example:wrong').toString('base64')}` } });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { errorMessages: ['Client must be authenticated to access this resource.'], errors: {} });
  });

  it('reads an issue with the fields asked for, and 404s an unknown one with Jira’s message', async () => {
    const issue = jira.createIssue({ summary: 'Deploy payments-api 2.14.0' });
    const res = await hub().request<{ key: string; fields: Record<string, unknown> }>({ method: 'GET', path: `/rest/api/3/issue/${issue.key}`, query: { fields: 'summary,status,updated' } });
    assert.deepEqual(Object.keys(res.body.fields).sort(), ['status', 'summary', 'updated']);
    assert.equal((res.body.fields.status as { name: string }).name, 'Awaiting approval');
    assert.match(res.body.fields.updated as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    const err = await fail(hub().request({ method: 'GET', path: '/rest/api/3/issue/CHG-999' }));
    assert.equal(err.status, 404);
    assert.match(err.message, /Issue does not exist or you do not have permission to see it\./);
  });

  it('takes comments in ADF only: a plain string body is 400, ADF is 201', async () => {
    const issue = jira.createIssue({ summary: 'comment me' });
    const plain = await fail(hub().request({ method: 'POST', path: `/rest/api/3/issue/${issue.key}/comment`, body: { body: 'Approved by CAB' } }));
    assert.equal(plain.status, 400);
    assert.match(plain.message, /comment: Comment body is not valid!/);
    const asText = await fetch(`${jira.url}/rest/api/3/issue/${issue.key}/comment`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('hub@acme.example:jira-api-token').toString('base64')}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ body: adf('Approved by CAB') }),
    });
    assert.equal(asText.status, 415);
    const emptyText = { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: '' }] }] };
    assert.equal((await fail(hub().request({ method: 'POST', path: `/rest/api/3/issue/${issue.key}/comment`, body: { body: emptyText } }))).status, 400);
    const ok = await hub().request<{ id: string; body: unknown }>({ method: 'POST', path: `/rest/api/3/issue/${issue.key}/comment`, body: { body: adf('Approved by CAB') } });
    assert.equal(ok.status, 201);
    assert.deepEqual(ok.body.body, adf('Approved by CAB'));
  });

  it('lists comments newest first, and gives their properties only through POST /rest/api/3/comment/list', async () => {
    const issue = jira.createIssue({ summary: 'props' });
    await hub().request({ method: 'POST', path: `/rest/api/3/issue/${issue.key}/comment`, body: { body: adf('first') } });
    clock.t += 1000;
    await hub().request({ method: 'POST', path: `/rest/api/3/issue/${issue.key}/comment`, body: { body: adf('second'), properties: [{ key: 'approval-hub', value: { idempotencyKey: 'k1' } }] } });
    // The issue's comment page documents only expand=renderedBody: properties are not there.
    const res = await hub().request<{ comments: { id: string; body: unknown; properties?: unknown }[] }>({
      method: 'GET',
      path: `/rest/api/3/issue/${issue.key}/comment`,
      query: { orderBy: '-created', maxResults: 50, expand: 'properties' },
    });
    assert.deepEqual(res.body.comments.map((c) => [c.body, c.properties]), [
      [adf('second'), undefined],
      [adf('first'), undefined],
    ]);
    const listed = await hub().request<{ isLast: boolean; values: { body: unknown; properties?: unknown }[] }>({
      method: 'POST',
      path: '/rest/api/3/comment/list',
      query: { expand: 'properties' },
      body: { ids: res.body.comments.map((c) => Number(c.id)) },
    });
    assert.equal(listed.body.isLast, true);
    assert.deepEqual(listed.body.values.map((c) => [c.body, c.properties]), [
      [adf('first'), []],
      [adf('second'), [{ key: 'approval-hub', value: { idempotencyKey: 'k1' } }]],
    ]);
    const asStrings = await fail(hub().request({ method: 'POST', path: '/rest/api/3/comment/list', body: { ids: res.body.comments.map((c) => c.id) } }));
    assert.equal(asStrings.status, 400);
    const me = await hub().request<{ accountId: string }>({ method: 'GET', path: '/rest/api/3/myself' });
    assert.equal(me.body.accountId, '712020:hub-bot');
  });

  it('edits an issue with fields and update operations all or nothing (204), 400 naming a field it cannot set', async () => {
    const issue = jira.createIssue({ summary: 'edit me', labels: ['a'] });
    const path = `/rest/api/3/issue/${issue.key}`;
    const ok = await hub().request({ method: 'PUT', path, body: { fields: { summary: 'edited' }, update: { labels: [{ add: 'b' }, { remove: 'a' }] } } });
    assert.equal(ok.status, 204);
    assert.deepEqual([issue.summary, issue.labels], ['edited', ['b']]);
    const refused = await fail(hub().request({ method: 'PUT', path, body: { fields: { summary: 'not this' }, update: { priority: [{ set: { name: 'High' } }] } } }));
    assert.equal(refused.status, 400);
    assert.match(refused.message, /priority: /);
    assert.equal(issue.summary, 'edited');
  });

  it('lists transitions for the current status and performs one with 204', async () => {
    const issue = jira.createIssue({ summary: 'move me' });
    const t = await hub().request<{ transitions: { id: string; name: string; to: { name: string } }[] }>({ method: 'GET', path: `/rest/api/3/issue/${issue.key}/transitions` });
    assert.deepEqual(t.body.transitions.map((x) => [x.id, x.name, x.to.name]), [['31', 'Approve', 'Awaiting implementation'], ['41', 'Decline', 'Declined'], ['51', 'Cancel', 'Canceled']]);
    const res = await hub().request({ method: 'POST', path: `/rest/api/3/issue/${issue.key}/transitions`, body: { transition: { id: '31' } } });
    assert.equal(res.status, 204);
    assert.equal(jira.state.issues.get(issue.key)!.status, 'Awaiting implementation');
    const bad = await fail(hub().request({ method: 'POST', path: `/rest/api/3/issue/${issue.key}/transitions`, body: { transition: { id: '31' } } }));
    assert.equal(bad.status, 400);
    assert.match(bad.message, /Transition id '31' is not valid for this issue/);
  });

  it('pages /search/jql with nextPageToken and isLast, no total, ids only unless fields are named', async () => {
    const start = clock.t;
    for (let i = 0; i < 5; i++) {
      clock.t += 60_000;
      jira.createIssue({ summary: `search ${i}`, labels: ['searchable'] });
    }
    const since = new Date(start + 2 * 60_000).toISOString().slice(0, 16).replace('T', ' ');
    const jql = `labels = searchable AND updated >= "${since}" ORDER BY updated ASC`;
    const first = await hub().request<Record<string, unknown>>({ method: 'GET', path: '/rest/api/3/search/jql', query: { jql, maxResults: 2 } });
    assert.deepEqual(Object.keys(first.body).sort(), ['isLast', 'issues', 'nextPageToken']);
    assert.deepEqual(Object.keys((first.body.issues as object[])[0]!), ['id']);
    const summaries = await all(hub().paginate({ method: 'GET', path: '/rest/api/3/search/jql', query: { jql, fields: 'summary,updated', maxResults: 2 } }, (b) => (b as { issues: { fields: { summary: string } }[] }).issues.map((i) => i.fields.summary)));
    assert.deepEqual(summaries, ['search 1', 'search 2', 'search 3', 'search 4']);
    const scoped = await hub().request<{ issues: { id: string }[] }>({ method: 'GET', path: '/rest/api/3/search/jql', query: { jql: `(project = "CHG" AND labels = searchable) AND updated >= "${since}" ORDER BY updated ASC`, maxResults: 100 } });
    assert.equal(scoped.body.issues.length, 4);
    const unbounded = await fail(hub().request({ method: 'GET', path: '/rest/api/3/search/jql', query: { jql: 'ORDER BY updated ASC' } }));
    assert.equal(unbounded.status, 400);
    assert.match(unbounded.message, /Unbounded JQL queries are not allowed here/);
    const oldPaging = await fail(hub().request({ method: 'GET', path: '/rest/api/3/search/jql', query: { jql, startAt: 2 } }));
    assert.equal(oldPaging.status, 400);
    assert.match(oldPaging.message, /'startAt' is not a parameter of \/rest\/api\/3\/search\/jql \(it has no startAt/);
  });

  it('takes a JSM comment as a plain string with a boolean public flag', async () => {
    const issue = jira.createIssue({ summary: 'jsm comment' });
    const path = `/rest/servicedeskapi/request/${issue.key}/comment`;
    const ok = await hub().request<{ public: boolean }>({ method: 'POST', path, body: { body: 'Approved via approval-hub', public: false } });
    assert.deepEqual([ok.status, ok.body.public], [201, false]);
    const asString = await fail(hub().request({ method: 'POST', path, body: { body: 'Approved via approval-hub', public: 'false' } }));
    assert.equal(asString.status, 400);
  });

  it('pages JSM approvals by start/limit and lets only the assigned approver decide', async () => {
    const issue = jira.createIssue({ summary: 'needs approval' });
    const miaId = '5b10ac8d82e05b22cc7d4ef5';
    jira.addApproval(issue.key, 'Change manager approval', [miaId]);
    const second = jira.addApproval(issue.key, 'Security approval', [miaId]);
    const names = await all(hub('start-limit').paginate({ method: 'GET', path: `/rest/servicedeskapi/request/${issue.key}/approval`, query: { start: 0, limit: 1 } }, (b) => (b as { values: { name: string }[] }).values.map((v) => v.name)));
    assert.deepEqual(names, ['Change manager approval', 'Security approval']);

    const path = `/rest/servicedeskapi/request/${issue.key}/approval/${second.id}`;
    const notApprover = await fail(hub().request({ method: 'POST', path, body: { decision: 'approve' } }));
    assert.equal(notApprover.status, 403);
    const withComment = await fail(mia().request({ method: 'POST', path, body: { decision: 'approve', comment: 'ok' } }));
    assert.equal(withComment.status, 400);
    const decided = await mia().request<{ finalDecision: string; completedDate: { iso8601: string; jira: string } }>({ method: 'POST', path, body: { decision: 'decline' } });
    assert.equal(decided.body.finalDecision, 'declined');
    // JSM's DateDTO: iso8601 has no milliseconds, jira has them.
    assert.match(decided.body.completedDate.iso8601, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/);
    assert.match(decided.body.completedDate.jira, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    assert.equal(jira.issues.get(issue.key)!.status, 'Declined');
  });

  it('rate-limits with 429, Retry-After and an ISO X-RateLimit-Reset', async () => {
    jira.rateLimit(3);
    const before = jira.calls.length;
    const issue = jira.createIssue({ summary: 'limited' });
    await hub().request({ method: 'GET', path: `/rest/api/3/issue/${issue.key}` });
    const seen = jira.calls.slice(before);
    assert.deepEqual(seen.map((c) => c.status), [429, 200]);
    assert.ok(seen[1]!.at - seen[0]!.at >= 3000);
  });

  it('sends jira:issue_updated signed with X-Hub-Signature: sha256=, with the status change in the changelog', async () => {
    const receiver = await startReceiver(200);
    try {
      const issue = jira.createIssue({ summary: 'webhook me' });
      jira.transitionAs('5b10ac8d82e05b22cc7d4ef5', issue.key, 'Approve');
      const sent = await jira.sendIssueUpdated(receiver.url, { key: issue.key, secret: 'jira-secret' });
      assert.equal(sent.status, 200);
      const got = receiver.received[0]!;
      assert.equal(got.headers['x-hub-signature'], `sha256=${createHmac('sha256', 'jira-secret').update(got.rawBody).digest('hex')}`);
      assert.equal(got.headers['x-atlassian-webhook-identifier'], sent.identifier);
      const body = JSON.parse(got.rawBody) as { webhookEvent: string; user: { accountId: string }; issue: { key: string }; changelog: { items: { field: string; fromString: string; toString: string }[] } };
      assert.equal(body.webhookEvent, 'jira:issue_updated');
      assert.equal(body.issue.key, issue.key);
      assert.equal(body.user.accountId, '5b10ac8d82e05b22cc7d4ef5');
      assert.deepEqual(body.changelog.items.map((i) => [i.field, i.fromString, i.toString]), [['status', 'Awaiting approval', 'Awaiting implementation']]);
    } finally {
      await receiver.close();
    }
  });
});
