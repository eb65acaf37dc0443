// ServiceNow connector: webhook verification, and actions/reconciliation against msw speaking the Table
// API (responses from connectors/servicenow/fixtures/responses, copies of /work/shared/vendor-payloads).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import servicenow from '../../connectors/servicenow/index.ts';
import { HttpError, type JsonObject } from '../../src/sdk/index.ts';
import { actionContext, actionInput, actionOf, allPages } from './support/context.ts';
import { connectionFor, root } from './support/fixtures.ts';

const SN = 'https://acme.service-now.com';
const server = setupServer();
before(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
after(() => server.close());

const conn = connectionFor('servicenow', { baseUrl: SN, auth: { type: 'basic', username: 'approval.hub', password: 'pw' }, webhook: { secret: 's3cret' }, options: { assignmentGroup: '8a4dde73c6112278017a6a4baf547aa7' } });
const responses = async (name: string) => JSON.parse(await readFile(join(root, 'connectors/servicenow/fixtures/responses', name), 'utf8')) as { result: JsonObject & JsonObject[] };
const changeLink = { kind: 'change_request', externalId: 'c83c5e5347c12200e0ef563dbb9a7190' };

function delivery(body: string, headers: Record<string, string>) {
  return { rawBody: Buffer.from(body), headers, receivedAt: new Date('2024-11-24T13:12:06Z') };
}

describe('servicenow webhook verification', () => {
  const body = '{"event":"record.updated","table":"change_request","record":{}}';
  const good = `sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`;

  it('accepts the business rule signature', () => {
    assert.deepEqual(servicenow.webhook!.verify(delivery(body, { 'x-hub-signature-256': good }), conn), { ok: true });
  });
  it('refuses a signature made with another secret', () => {
    const bad = `sha256=${createHmac('sha256', 'other').update(body).digest('hex')}`;
    assert.deepEqual(servicenow.webhook!.verify(delivery(body, { 'x-hub-signature-256': bad }), conn), { ok: false, reason: 'x-hub-signature-256 does not match the body' });
  });
  it('refuses a body changed after signing', () => {
    assert.deepEqual(servicenow.webhook!.verify(delivery(body.replace('updated', 'deleted'), { 'x-hub-signature-256': good }), conn), {
      ok: false,
      reason: 'x-hub-signature-256 does not match the body',
    });
  });
  it('names the event from the X-Approval-Hub-Event header, else from the body', () => {
    const spec = servicenow.webhook!;
    assert.equal(spec.eventName(delivery(body, { 'x-approval-hub-event': 'decision.recorded' }), JSON.parse(body)), 'decision.recorded');
    assert.equal(spec.eventName(delivery(body, {}), JSON.parse(body)), 'record.updated');
    assert.equal(spec.eventName(delivery('[]', {}), []), null);
    assert.equal(spec.eventName(delivery('null', {}), null), null);
  });
  it('refuses a delivery without the signature header', () => {
    assert.deepEqual(servicenow.webhook!.verify(delivery(body, {}), conn), { ok: false, reason: 'missing x-hub-signature-256 header' });
  });
  it('accepts matching basic credentials when the connection uses basic auth instead of a secret', () => {
    const basic = connectionFor('servicenow', { webhook: { username: 'sn-push', password: 'pa55' } });
    const header = `Basic ${Buffer.from('sn-push:pa55').toString('base64')}`;
    assert.deepEqual(servicenow.webhook!.verify(delivery(body, { authorization: header }), basic), { ok: true });
    const wrong = `Basic ${Buffer.from('sn-push:nope').toString('base64')}`;
    assert.deepEqual(servicenow.webhook!.verify(delivery(body, { authorization: wrong }), basic), { ok: false, reason: 'basic credentials do not match' });
  });
  it('refuses everything when the connection has neither a secret nor credentials', () => {
    const none = connectionFor('servicenow', {});
    assert.deepEqual(servicenow.webhook!.verify(delivery(body, { 'x-hub-signature-256': good }), none), {
      ok: false,
      reason: 'connection servicenow-test has neither webhook.secret nor webhook.username/password',
    });
  });
});

describe('servicenow open-record', () => {
  const change = {
    id: 'chg_01HZX', title: 'Deploy payments-api 2.14.0 to production', description: 'Pipeline run 3401', state: 'pending-approval',
    risk: { score: 45, tier: 'medium' }, justification: 'Fixes duplicate charges', plannedWindow: { start: '2024-11-24T14:00:00Z', end: '2024-11-24T15:00:00Z' },
  };

  it('creates the change_request with the plan fields and the hub change id as correlation_id', async () => {
    const created = await responses('change_request.json');
    let query = '';
    let posted: unknown = null;
    server.use(
      http.get(`${SN}/api/now/table/change_request`, ({ request }) => {
        query = new URL(request.url).searchParams.get('sysparm_query') ?? '';
        return HttpResponse.json({ result: [] });
      }),
      http.post(`${SN}/api/now/table/change_request`, async ({ request }) => {
        posted = await request.json();
        return HttpResponse.json(created, { status: 201 });
      }),
    );
    const ctx = await actionContext(servicenow, conn);
    const result = await actionOf(servicenow, 'open-record')(actionInput('open-record', { change }), ctx);
    assert.equal(query, 'correlation_id=chg_01HZX');
    assert.deepEqual(posted, {
      short_description: 'Deploy payments-api 2.14.0 to production', description: 'Pipeline run 3401', risk: '3', justification: 'Fixes duplicate charges',
      start_date: '2024-11-24 14:00:00', end_date: '2024-11-24 15:00:00', correlation_id: 'chg_01HZX', correlation_display: 'approval-hub',
      assignment_group: '8a4dde73c6112278017a6a4baf547aa7',
    });
    assert.equal(result.status, 'done');
    assert.equal(result.link?.externalId, 'c83c5e5347c12200e0ef563dbb9a7190');
    assert.deepEqual(result.result, { number: 'CHG0030012' });
  });

  it('finds the record a previous attempt created and creates nothing', async () => {
    const existing = (await responses('change_request.json')).result;
    let posts = 0;
    server.use(
      http.get(`${SN}/api/now/table/change_request`, () => HttpResponse.json({ result: [existing] })),
      http.post(`${SN}/api/now/table/change_request`, () => {
        posts++;
        return HttpResponse.json({}, { status: 201 });
      }),
    );
    const ctx = await actionContext(servicenow, conn);
    const result = await actionOf(servicenow, 'open-record')(actionInput('open-record', { change }), ctx);
    assert.equal(result.status, 'already-done');
    assert.equal(result.link?.data?.number, 'CHG0030012');
    assert.equal(posts, 0);
  });

  it('a 2xx without the created record is an error naming what is missing, not a link to no sys_id', async () => {
    server.use(
      http.get(`${SN}/api/now/table/change_request`, () => HttpResponse.json({ result: [] })),
      http.post(`${SN}/api/now/table/change_request`, () => HttpResponse.json({ result: [] }, { status: 201 })),
    );
    const ctx = await actionContext(servicenow, conn);
    await assert.rejects(actionOf(servicenow, 'open-record')(actionInput('open-record', { change }), ctx), /answered POST \/api\/now\/table\/change_request with 201 but no created record \(no result\.sys_id\)/);
  });

  it('surfaces a 429 with Retry-After as HttpError.retryAfterMs', async () => {
    server.use(
      http.get(`${SN}/api/now/table/change_request`, () =>
        HttpResponse.json({ error: { message: 'Rate limit exceeded', detail: 'Rate limit of 100 per hour' }, status: 'failure' }, { status: 429, headers: { 'Retry-After': '30' } }),
      ),
    );
    const ctx = await actionContext(servicenow, conn);
    await assert.rejects(actionOf(servicenow, 'open-record')(actionInput('open-record', { change }), ctx), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.status, 429);
      assert.equal(e.retryAfterMs, 30_000);
      return true;
    });
  });
});

describe('servicenow comment, record-decision and sync-state', () => {
  it('adds a work note with the idempotency marker, and not twice', async () => {
    const notes: unknown[] = [];
    let journal: JsonObject[] = [];
    server.use(
      http.get(`${SN}/api/now/table/sys_journal_field`, ({ request }) => {
        assert.equal(new URL(request.url).searchParams.get('sysparm_query'), `element_id=${changeLink.externalId}^element=work_notes^valueLIKE[approval-hub k-1]`);
        return HttpResponse.json({ result: journal });
      }),
      http.patch(`${SN}/api/now/table/change_request/${changeLink.externalId}`, async ({ request }) => {
        notes.push(await request.json());
        journal = [{ sys_id: 'j1' }];
        return HttpResponse.json({ result: { sys_id: changeLink.externalId } });
      }),
    );
    const ctx = await actionContext(servicenow, conn);
    const input = actionInput('comment', { idempotencyKey: 'k-1', link: changeLink, params: { message: 'Approved by the hub' } });
    assert.equal((await actionOf(servicenow, 'comment')(input, ctx)).status, 'done');
    assert.equal((await actionOf(servicenow, 'comment')(input, ctx)).status, 'already-done');
    assert.deepEqual(notes, [{ work_notes: 'Approved by the hub\n[approval-hub k-1]' }]);
  });

  it('approves a requested approval with the rationale as comments', async () => {
    const approval = (await responses('sysapproval_approver.json')).result[0]!;
    let patched: unknown = null;
    server.use(
      http.get(`${SN}/api/now/table/sysapproval_approver/0a8b2c3d47c12200e0ef563dbb9a71a1`, () => HttpResponse.json({ result: approval })),
      http.patch(`${SN}/api/now/table/sysapproval_approver/0a8b2c3d47c12200e0ef563dbb9a71a1`, async ({ request }) => {
        patched = await request.json();
        return HttpResponse.json({ result: { ...approval, state: 'approved' } });
      }),
    );
    const ctx = await actionContext(servicenow, conn);
    const result = await actionOf(servicenow, 'record-decision')(
      actionInput('record-decision', { link: changeLink, params: { outcome: 'approve', rationale: 'Approved in Jira by CAB', approvalId: '0a8b2c3d47c12200e0ef563dbb9a71a1' } }),
      ctx,
    );
    assert.equal(result.status, 'done');
    assert.deepEqual(patched, { state: 'approved', comments: 'Approved in Jira by CAB' });
  });

  it('reports an approval already decided the same way as already done, and the opposite way as permanent', async () => {
    const approved = (await responses('sysapproval_approver.json')).result[1]!;
    server.use(http.get(`${SN}/api/now/table/sysapproval_approver/1b9c3d4e47c12200e0ef563dbb9a71c3`, () => HttpResponse.json({ result: approved })));
    const ctx = await actionContext(servicenow, conn);
    const decide = actionOf(servicenow, 'record-decision');
    const params = { approvalId: '1b9c3d4e47c12200e0ef563dbb9a71c3' };
    assert.equal((await decide(actionInput('record-decision', { params: { ...params, outcome: 'approve' } }), ctx)).status, 'already-done');
    await assert.rejects(decide(actionInput('record-decision', { params: { ...params, outcome: 'reject' } }), ctx), {
      name: 'PermanentError',
      message: 'approval 1b9c3d4e47c12200e0ef563dbb9a71c3 is already approved in ServiceNow',
    });
  });

  it('leaves an approval ServiceNow withdrew (cancelled, not_required, duplicate, not requested) unanswered', async () => {
    const requested = (await responses('sysapproval_approver.json')).result[0]!;
    let patches = 0;
    let state = '';
    server.use(
      http.get(`${SN}/api/now/table/sysapproval_approver/0a8b2c3d47c12200e0ef563dbb9a71a1`, () => HttpResponse.json({ result: { ...requested, state } })),
      http.patch(`${SN}/api/now/table/sysapproval_approver/0a8b2c3d47c12200e0ef563dbb9a71a1`, () => {
        patches++;
        return HttpResponse.json({ result: { ...requested, state: 'approved' } });
      }),
    );
    const ctx = await actionContext(servicenow, conn);
    for (state of ['cancelled', 'not_required', 'duplicate', 'not requested']) {
      const result = await actionOf(servicenow, 'record-decision')(
        actionInput('record-decision', { link: changeLink, params: { outcome: 'approve', approvalId: '0a8b2c3d47c12200e0ef563dbb9a71a1' } }),
        ctx,
      );
      assert.equal(result.status, 'already-done', state);
      assert.equal(result.result?.skipped, `approval 0a8b2c3d47c12200e0ef563dbb9a71a1 is ${state} in ServiceNow: it awaits no decision`);
    }
    assert.equal(patches, 0);
  });

  it("answers the approver's requested approval, not an older one of theirs ServiceNow cancelled in the same second", async () => {
    const [requested] = (await responses('sysapproval_approver.json')).result;
    // Sent back and asked again: the old request was cancelled as the new one was made.
    const cancelled = { ...requested!, sys_id: 'f'.repeat(32), state: 'cancelled', sys_created_on: '2024-11-24 12:40:00', sys_updated_on: '2024-11-24 13:02:39' };
    const rows: JsonObject[] = [cancelled, requested!];
    const patched: string[] = [];
    server.use(
      http.get(`${SN}/api/now/table/sysapproval_approver`, ({ request }) => {
        // As the instance: the conditions the hub sent, in the order it asked for (ties keep table order).
        const query = new URL(request.url).searchParams.get('sysparm_query') ?? '';
        const conditions = query.split('^').filter((c) => !c.startsWith('ORDERBY'));
        const matching = rows.filter((r) => conditions.every((c) => {
          const [field, value] = c.split('=') as [string, string];
          if (field === 'approver.email') return value === 'beth.anglin@acme.example';
          if (field === 'sysapproval') return value === (r.sysapproval as { value: string }).value;
          return r[field] === value;
        }));
        return HttpResponse.json({ result: matching.slice(0, 1) });
      }),
      http.patch(`${SN}/api/now/table/sysapproval_approver/:sysId`, ({ params }) => {
        patched.push(params.sysId as string);
        return HttpResponse.json({ result: { ...requested!, state: 'approved' } });
      }),
    );
    const ctx = await actionContext(servicenow, conn);
    const result = await actionOf(servicenow, 'record-decision')(
      actionInput('record-decision', { link: changeLink, params: { outcome: 'approve', approver: 'beth.anglin@acme.example' } }),
      ctx,
    );
    assert.equal(result.status, 'done');
    assert.deepEqual(patched, ['0a8b2c3d47c12200e0ef563dbb9a71a1']);
  });

  it('leaves a record in another ServiceNow state for the same canonical state where it is (Authorize, legacy Work in Progress)', async () => {
    const record: JsonObject = (await responses('change_request.json')).result;
    let state = '';
    const patches: unknown[] = [];
    server.use(
      http.get(`${SN}/api/now/table/change_request/${changeLink.externalId}`, ({ request }) => {
        const fields = new URL(request.url).searchParams.get('sysparm_fields')!.split(',');
        return HttpResponse.json({ result: Object.fromEntries(fields.map((f) => [f, f === 'state' ? state : record[f] ?? ''])) });
      }),
      http.patch(`${SN}/api/now/table/change_request/${changeLink.externalId}`, async ({ request }) => {
        patches.push(await request.json());
        return HttpResponse.json({ result: { sys_id: changeLink.externalId, state } });
      }),
    );
    const ctx = await actionContext(servicenow, conn);
    const sync = actionOf(servicenow, 'sync-state');
    // -3 Authorize is pending-approval as much as -4 Assess (the value written for it); 2 is an old instance's implementing.
    for (const [at, canonical] of [['-3', 'pending-approval'], ['2', 'implementing']] as const) {
      state = at;
      assert.equal((await sync(actionInput('sync-state', { link: changeLink, params: { state: canonical } }), ctx)).status, 'already-done', `${at} is ${canonical}`);
    }
    assert.deepEqual(patches, []);
  });

  it('sets the ServiceNow state for a canonical state, and skips it when already there', async () => {
    let state = '-3';
    const patches: unknown[] = [];
    server.use(
      http.get(`${SN}/api/now/table/change_request/${changeLink.externalId}`, () => HttpResponse.json({ result: { sys_id: changeLink.externalId, state } })),
      http.patch(`${SN}/api/now/table/change_request/${changeLink.externalId}`, async ({ request }) => {
        const body = (await request.json()) as { state: string };
        patches.push(body);
        state = body.state;
        return HttpResponse.json({ result: { sys_id: changeLink.externalId, state } });
      }),
    );
    const ctx = await actionContext(servicenow, conn);
    const sync = actionOf(servicenow, 'sync-state');
    const input = actionInput('sync-state', { link: changeLink, params: { state: 'implementing' } });
    assert.deepEqual(await sync(input, ctx), { status: 'done', link: changeLink, result: { state: '-1' } });
    assert.equal((await sync(input, ctx)).status, 'already-done');
    assert.deepEqual(patches, [{ state: '-1' }]);
  });
});

describe('servicenow reconcile', () => {
  it('pages change_request by Link header, then approvals, and moves the cursor to the newest update', async () => {
    const base = (await responses('change_request.json')).result;
    const approvals = (await responses('sysapproval_approver.json')).result.map((a) => ({
      ...a, sysapproval: (a.sysapproval as { value: string }).value, 'approver.email': a.sys_updated_by === 'beth.anglin' ? 'beth.anglin@example.com' : 'fred.luddy@example.com',
    }));
    const page1 = [{ ...base, state: '-3', sys_updated_on: '2024-11-24 13:02:40' }];
    const page2 = [{ ...base, sys_id: 'd1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6', number: 'CHG0030013', state: '-2', approval: 'approved', sys_updated_on: '2024-11-24 13:11:00', sys_mod_count: '7' }];
    const queries: string[] = [];
    server.use(
      http.get(`${SN}/api/now/table/change_request`, ({ request }) => {
        const url = new URL(request.url);
        queries.push(url.searchParams.get('sysparm_query') ?? '');
        if (url.searchParams.get('sysparm_offset') === '100') return HttpResponse.json({ result: page2 }, { headers: { 'X-Total-Count': '101' } });
        const next = new URL(url);
        next.searchParams.set('sysparm_offset', '100');
        return HttpResponse.json({ result: page1 }, { headers: { Link: `<${next.href}>;rel="next",<${url.href}>;rel="first"`, 'X-Total-Count': '101' } });
      }),
      http.get(`${SN}/api/now/table/sysapproval_approver`, ({ request }) => {
        queries.push(new URL(request.url).searchParams.get('sysparm_query') ?? '');
        return HttpResponse.json({ result: approvals });
      }),
    );
    const ctx = await actionContext(servicenow, conn, { cursor: '2024-11-24 13:00:00' });
    const pages = await allPages(servicenow.reconcile!(ctx));
    assert.deepEqual(queries, [
      'sys_updated_on>=2024-11-24 13:00:00^ORDERBYsys_updated_on^ORDERBYsys_id',
      'sys_updated_on>=2024-11-24 13:00:00^ORDERBYsys_updated_on^ORDERBYsys_id',
      'source_table=change_request^sys_updated_on>=2024-11-24 13:00:00^ORDERBYsys_updated_on^ORDERBYsys_id',
    ]);
    const events = pages.flatMap((p) => p.events);
    assert.deepEqual(events.map((e) => [e.type, e.link.externalId, e.type === 'record.updated' ? e.fields.state : e.type === 'decision.recorded' ? e.actor : null]), [
      ['record.updated', 'c83c5e5347c12200e0ef563dbb9a7190', 'pending-approval'],
      ['record.updated', 'd1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6', 'approved'],
      ['decision.recorded', 'c83c5e5347c12200e0ef563dbb9a7190', 'beth.anglin@example.com'],
    ]);
    // Pages before the end keep the old cursor; the last one carries the newest sys_updated_on.
    assert.deepEqual(pages.map((p) => p.cursor), ['2024-11-24 13:00:00', '2024-11-24 13:00:00', '2024-11-24 13:00:00', '2024-11-24 13:11:00']);
  });

  it('does not skip a change updated while the approvals were being read', async () => {
    // A tiny instance: each table answers sys_updated_on>=<since> from its rows, as the Table API does.
    const change: JsonObject = (await responses('change_request.json')).result;
    const changes: JsonObject[] = [
      { ...change, sys_id: 'a'.repeat(32), number: 'CHG0030020', state: '-3', sys_updated_on: '2024-11-24 13:10:00', sys_mod_count: '1' },
      { ...change, sys_id: 'b'.repeat(32), number: 'CHG0030021', state: '-3', sys_updated_on: '2024-11-24 12:00:00', sys_mod_count: '1' },
    ];
    const approval = (await responses('sysapproval_approver.json')).result[1]!;
    const approvals = [{ ...approval, sysapproval: 'c'.repeat(32), 'approver.email': 'beth.anglin@example.com', sys_updated_on: '2024-11-24 13:10:02' }];
    const since = (url: URL) => /sys_updated_on>=([0-9-]+ [0-9:]+)/.exec(url.searchParams.get('sysparm_query') ?? '')![1]!;
    const answer = (rows: JsonObject[], url: URL) => HttpResponse.json({ result: rows.filter((r) => (r.sys_updated_on as string) >= since(url)) });
    let readingApprovals = 0;
    server.use(
      http.get(`${SN}/api/now/table/change_request`, ({ request }) => answer(changes, new URL(request.url))),
      http.get(`${SN}/api/now/table/sysapproval_approver`, ({ request }) => {
        // Meanwhile someone moves change B on (13:10:01): after change_request was read, before this approval (13:10:02).
        if (readingApprovals++ === 0) Object.assign(changes[1]!, { state: '-2', approval: 'approved', sys_updated_on: '2024-11-24 13:10:01', sys_mod_count: '2' });
        return answer(approvals, new URL(request.url));
      }),
    );
    const first = await allPages(servicenow.reconcile!(await actionContext(servicenow, conn, { cursor: '2024-11-24 13:00:00' })));
    const second = await allPages(servicenow.reconcile!(await actionContext(servicenow, conn, { cursor: first.at(-1)!.cursor })));
    const changesSeen = [...first, ...second].flatMap((p) => p.events).filter((e) => e.type === 'record.updated').map((e) => `${e.link.externalId.slice(0, 1)}@${e.link.version}`);
    assert.ok(changesSeen.includes('b@2'), `change B's update at 13:10:01 is read by one of the runs (read: ${changesSeen.join(', ')})`);
  });

  it('names an approver without an email by their sys_user sys_id', async () => {
    const approval: JsonObject = (await responses('sysapproval_approver.json')).result[1]!;
    server.use(
      http.get(`${SN}/api/now/table/change_request`, () => HttpResponse.json({ result: [] })),
      http.get(`${SN}/api/now/table/sysapproval_approver`, ({ request }) => {
        // As the Table API answers sysparm_fields with sysparm_exclude_reference_link: only the fields asked
        // for, references as sys_ids, a dot-walk to an empty email as "".
        const fields = new URL(request.url).searchParams.get('sysparm_fields')!.split(',');
        const value = (f: string) => (f === 'approver.email' ? '' : f in approval ? ((approval[f] as { value?: string }).value ?? approval[f]) : '');
        return HttpResponse.json({ result: [Object.fromEntries(fields.map((f) => [f, value(f)]))] });
      }),
    );
    const ctx = await actionContext(servicenow, conn, { cursor: '2024-11-24 13:00:00' });
    const events = (await allPages(servicenow.reconcile!(ctx))).flatMap((p) => p.events);
    assert.deepEqual(ctx.log.entries, []);
    assert.deepEqual(events.map((e) => (e.type === 'decision.recorded' ? [e.outcome, e.actor] : e.type)), [['approve', 'a8f98bb0eb32010045e1a5115206fe3a']]);
  });

  it('starts from the lookback window without a cursor and logs records the mapping cannot read', async () => {
    let query = '';
    server.use(
      http.get(`${SN}/api/now/table/change_request`, ({ request }) => {
        query = new URL(request.url).searchParams.get('sysparm_query') ?? '';
        return HttpResponse.json({ result: [{ sys_id: 'e'.repeat(32), short_description: 'x', state: '12', sys_updated_on: '2024-11-24 13:20:00' }] });
      }),
      http.get(`${SN}/api/now/table/sysapproval_approver`, () => HttpResponse.json({ result: [] })),
    );
    const ctx = await actionContext(servicenow, conn, { now: new Date('2024-11-24T13:30:00Z') });
    const pages = await allPages(servicenow.reconcile!(ctx));
    assert.match(query, /^sys_updated_on>=2024-11-23 13:30:00\^/);
    assert.deepEqual(pages.flatMap((p) => p.events), []);
    assert.equal(ctx.log.entries.length, 1);
    assert.match(JSON.stringify(ctx.log.entries[0]), /field state: value \\"12\\" \(from state\) is not in the value map/);
  });
});
