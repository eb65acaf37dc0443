// The fake ServiceNow keeps the Table API contract the hub relies on.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { HttpError, type VendorFacts } from '../../src/sdk/index.ts';
import { startFakeServiceNow, type FakeServiceNow } from '../fakes/servicenow.ts';
import { startReceiver } from '../fakes/receiver.ts';
import { all, clientOn, secret, sharedClock } from './support.ts';

const vendor: VendorFacts = { pagination: 'link-header', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] };
const clock = sharedClock();
let sn: FakeServiceNow;
const basic = { type: 'basic', username: 'hub.integration', password: secret('hub-password') };
const hub = () => clientOn(sn.url, basic, vendor, clock);

before(async () => {
  sn = await startFakeServiceNow({ now: clock.now });
});
after(() => sn.close());

describe('fake ServiceNow', () => {
  it('answers 401 with the User Not Authenticated body without credentials', async () => {
    const res = await fetch(`${sn.url}/api/now/table/change_request`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' }, status: 'failure' });
  });

  it('creates a change (201) with string values, references as {link, value} and sys_updated_on in UTC', async () => {
    const res = await hub().request<{ result: Record<string, unknown> }>({
      method: 'POST',
      path: '/api/now/table/change_request',
      body: { short_description: 'Deploy payments-api 2.14.0', type: 'normal', risk: 3, correlation_id: 'gh:acme/payments-api/42' },
    });
    assert.equal(res.status, 201);
    const r = res.body.result;
    assert.match(r.sys_id as string, /^[0-9a-f]{32}$/);
    assert.match(r.number as string, /^CHG\d{7}$/);
    assert.equal(r.risk, '3');
    assert.equal(r.state, '-5');
    assert.equal(r.approval, 'not requested');
    assert.equal(r.sys_updated_on, '2026-11-24 15:00:00');
    const requester = sn.user('hub.integration');
    assert.deepEqual(r.requested_by, { link: `${sn.url}/api/now/table/sys_user/${requester.sys_id}`, value: requester.sys_id });
    const read = await hub().request<{ result: Record<string, unknown> }>({ method: 'GET', path: `/api/now/table/change_request/${r.sys_id}`, query: { sysparm_exclude_reference_link: true } });
    assert.equal(read.body.result.requested_by, requester.sys_id);
  });

  it('answers an unknown sys_id with 404 No Record found, which the client reports', async () => {
    const err = await hub().request({ method: 'GET', path: '/api/now/table/change_request/0123456789abcdef0123456789abcdef' }).catch((e: unknown) => e);
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 404);
    assert.match(err.message, /No Record found — Record doesn't exist or ACL restricts the record retrieval/);
  });

  it('refuses a write without Content-Type: application/json', async () => {
    const res = await fetch(`${sn.url}/api/now/table/change_request`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('hub.integration:hub-password').toString('base64')}` },
      body: '{"short_description":"x"}',
    });
    assert.equal(res.status, 415);
  });

  it('filters with sysparm_query (>=, ^, ORDERBY) and pages with Link (no space after ;) and X-Total-Count', async () => {
    for (let i = 0; i < 5; i++) {
      clock.t += 60_000;
      sn.createChange({ short_description: `paged ${i}`, category: 'paging' });
    }
    const since = new Date(clock.t - 3 * 60_000).toISOString().slice(0, 19).replace('T', ' ');
    const first = await fetch(`${sn.url}/api/now/table/change_request?sysparm_query=category=paging^sys_updated_on>=${encodeURIComponent(since)}^ORDERBYsys_updated_on&sysparm_limit=2`, {
      headers: { authorization: `Basic ${Buffer.from('hub.integration:hub-password').toString('base64')}` },
    });
    assert.equal(first.headers.get('x-total-count'), '4');
    assert.match(first.headers.get('link')!, /^<http:\/\/127\.0\.0\.1:\d+\/api\/now\/table\/change_request\?[^>]*sysparm_offset=0[^>]*>;rel="first",<[^>]*sysparm_offset=2[^>]*>;rel="next",<[^>]*>;rel="last"$/);
    const rows = await all(
      hub().paginate(
        { method: 'GET', path: '/api/now/table/change_request', query: { sysparm_query: `category=paging^sys_updated_on>=${since}^ORDERBYsys_updated_on`, sysparm_limit: 2, sysparm_fields: 'short_description,sys_updated_on' } },
        (b) => (b as { result: { short_description: string }[] }).result.map((r) => r.short_description),
      ),
    );
    assert.deepEqual(rows, ['paged 1', 'paged 2', 'paged 3', 'paged 4']);
  });

  it('caps a page below a bigger sysparm_limit and carries the capped limit in Link rel="next"', async () => {
    const capped = await startFakeServiceNow({ now: clock.now, maxPageSize: 2 });
    try {
      for (let i = 0; i < 3; i++) capped.createChange({ short_description: `capped ${i}` });
      const first = await clientOn(capped.url, basic, vendor, clock).request<{ result: unknown[] }>({
        method: 'GET',
        path: '/api/now/table/change_request',
        query: { sysparm_query: 'ORDERBYnumber', sysparm_limit: 100 },
      });
      assert.equal(first.body.result.length, 2);
      assert.match(first.headers.link!, /<[^>]*sysparm_limit=2&sysparm_offset=2>;rel="next"/);
      const rows = await all(
        clientOn(capped.url, basic, vendor, clock).paginate(
          { method: 'GET', path: '/api/now/table/change_request', query: { sysparm_query: 'ORDERBYnumber', sysparm_limit: 100, sysparm_fields: 'short_description' } },
          (b) => (b as { result: { short_description: string }[] }).result.map((r) => r.short_description),
        ),
      );
      assert.deepEqual(rows, ['capped 0', 'capped 1', 'capped 2']);
    } finally {
      await capped.close();
    }
  });

  it('refuses a sysparm_ parameter the call does not take, or a flag value it does not know (an instance would ignore both), and ignores other parameters', async () => {
    const change = sn.createChange({ short_description: 'params' });
    for (const [path, query] of [
      ['/api/now/table/change_request', { sysparm_field: 'sys_id' }],
      [`/api/now/table/change_request/${change.sys_id}`, { sysparm_limit: 1 }],
      [`/api/now/table/change_request/${change.sys_id}`, { sysparm_exclude_reference_link: 1 }],
      [`/api/now/table/change_request/${change.sys_id}`, { sysparm_display_value: 'display' }],
    ] as const) {
      const err = await hub().request({ method: 'GET', path, query }).catch((e: unknown) => e);
      assert.ok(err instanceof HttpError);
      assert.equal(err.status, 400);
      assert.match(err.message, /sysparm_(field|limit) is not a parameter of GET|sysparm_(exclude_reference_link|display_value)=\w+: expected/);
    }
    const ok = await hub().request<{ result: { sys_id: string } }>({ method: 'GET', path: `/api/now/table/change_request/${change.sys_id}`, query: { sysparm_fields: 'sys_id', cache_bust: 1 } });
    assert.deepEqual(ok.body.result, { sys_id: change.sys_id });
  });

  it('refuses an encoded query it cannot parse instead of returning everything', async () => {
    const err = await hub().request({ method: 'GET', path: '/api/now/table/change_request', query: { sysparm_query: 'sys_updated_on≥2026' } }).catch((e: unknown) => e);
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 400);
  });

  it('knows each table’s columns: a write drops a field the table lacks, sysparm_fields leaves it out, a query on it (or an ISO time for a date-time) is 400', async () => {
    const created = await hub().request<{ result: Record<string, unknown> }>({
      method: 'POST',
      path: '/api/now/table/change_request',
      query: { sysparm_fields: 'sys_id,short_description,correlation_id,correlation_ref,approver.email,requested_by.email' },
      body: { short_description: 'Columns', correlation_id: 'chg_cols', correlation_ref: 'not a column' },
    });
    assert.deepEqual(Object.keys(created.body.result).sort(), ['correlation_id', 'requested_by.email', 'short_description', 'sys_id']);
    assert.equal(sn.record('change_request', created.body.result.sys_id as string)?.correlation_ref, undefined);
    for (const sysparm_query of ['correlation_ref=chg_cols', 'requested_by.mail=beth.anglin@acme.example', 'ORDERBYupdated_on', 'sys_updated_on>=2026-11-24T13:00:00Z']) {
      const err = await hub().request({ method: 'GET', path: '/api/now/table/change_request', query: { sysparm_query } }).catch((e: unknown) => e);
      assert.ok(err instanceof HttpError, sysparm_query);
      assert.equal(err.status, 400, sysparm_query);
    }
  });

  it('keeps work notes as sys_journal_field rows that LIKE queries find, with ^^ as a literal caret', async () => {
    const change = sn.createChange({ short_description: 'noted' });
    await hub().request({ method: 'PATCH', path: `/api/now/table/change_request/${change.sys_id}`, body: { work_notes: 'Approved in hub\n[approval-hub k^1]' } });
    const found = await hub().request<{ result: { sys_id: string }[] }>({
      method: 'GET',
      path: '/api/now/table/sys_journal_field',
      query: { sysparm_query: `element_id=${change.sys_id}^element=work_notes^valueLIKE[approval-hub k^^1]`, sysparm_limit: 1, sysparm_fields: 'sys_id' },
    });
    assert.equal(found.body.result.length, 1);
    const none = await hub().request<{ result: unknown[] }>({
      method: 'GET',
      path: '/api/now/table/sys_journal_field',
      query: { sysparm_query: `element_id=${change.sys_id}^element=work_notes^valueLIKE[approval-hub k^^2]` },
    });
    assert.deepEqual(none.body.result, []);
  });

  it('runs the approval engine: a person approves, the change becomes approved and Scheduled', async () => {
    const change = sn.createChange({ short_description: 'needs CAB' });
    const approval = sn.requestApproval(change.sys_id!, 'beth.anglin');
    assert.equal(sn.record('change_request', change.sys_id!)!.approval, 'requested');
    assert.equal(sn.record('change_request', change.sys_id!)!.state, '-3');
    const listed = await hub().request<{ result: Record<string, unknown>[] }>({
      method: 'GET',
      path: '/api/now/table/sysapproval_approver',
      query: { sysparm_query: `sysapproval=${change.sys_id}`, sysparm_fields: 'sys_id,state,approver.email' },
    });
    assert.deepEqual(listed.body.result, [{ sys_id: approval.sys_id, state: 'requested', 'approver.email': 'beth.anglin@acme.example' }]);
    assert.throws(() => sn.approve(approval.sys_id!, 'mia.krystof'), /mia.krystof is not the approver/);
    clock.t += 1000;
    sn.approve(approval.sys_id!, 'beth.anglin', 'Looks fine');
    const after = sn.record('change_request', change.sys_id!)!;
    assert.equal(after.approval, 'approved');
    assert.equal(after.state, '-2');
    assert.equal(after.sys_updated_by, 'beth.anglin');
  });

  it('lets the hub reject an approval with PATCH and refuses moving an unapproved change to Implement (403)', async () => {
    const change = sn.createChange({ short_description: 'hub decides' });
    const approval = sn.requestApproval(change.sys_id!, 'hub.integration');
    const patched = await hub().request<{ result: Record<string, unknown> }>({ method: 'PATCH', path: `/api/now/table/sysapproval_approver/${approval.sys_id}`, body: { state: 'rejected', comments: 'Freeze window' } });
    assert.equal(patched.body.result.state, 'rejected');
    assert.equal(patched.body.result.comments, '', 'journal fields read as "" with raw values');
    assert.equal(sn.record('change_request', change.sys_id!)!.approval, 'rejected');
    assert.deepEqual(sn.state.journal.filter((j) => j.sysId === approval.sys_id).map((j) => [j.field, j.by, j.text]), [['comments', 'hub.integration', 'Freeze window']]);
    const err = await hub().request({ method: 'PUT', path: `/api/now/table/change_request/${change.sys_id}`, body: { state: '-1' } }).catch((e: unknown) => e);
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 403);
    assert.match(err.message, /cannot move to Implement while approval is "rejected"/);
  });

  it('issues OAuth tokens from /oauth_token.do that the client caches', async () => {
    const client = clientOn(sn.url, { type: 'oauth', clientId: 'hub-client', clientSecret: secret('hub-client-secret') }, vendor, clock);
    await client.request({ method: 'GET', path: '/api/now/table/change_request', query: { sysparm_limit: 1 } });
    await client.request({ method: 'GET', path: '/api/now/table/change_request', query: { sysparm_limit: 1 } });
    assert.equal(sn.callsTo('POST', /^\/oauth_token\.do$/).length, 1);
  });

  it('rate-limits with 429, Retry-After and X-RateLimit-Reset, and records when each call arrived', async () => {
    sn.rateLimit(5);
    const before = sn.calls.length;
    const res = await hub().request({ method: 'GET', path: '/api/now/table/change_request', query: { sysparm_limit: 1 } });
    assert.equal(res.status, 200);
    const [limited, retried] = sn.calls.slice(before);
    assert.equal(limited!.status, 429);
    assert.equal(retried!.status, 200);
    assert.ok(retried!.at - limited!.at >= 5000);
  });

  it('fails the next calls on demand with the vendor error body', async () => {
    sn.failNext(1, 503);
    const before = sn.calls.length;
    await hub().request({ method: 'GET', path: '/api/now/table/change_request', query: { sysparm_limit: 1 } });
    assert.deepEqual(sn.calls.slice(before).map((c) => c.status), [503, 200]);
  });

  it("sends the hub's business-rule webhook, signed with X-Hub-Signature-256", async () => {
    const receiver = await startReceiver(200);
    try {
      const change = sn.createChange({ short_description: 'webhook' });
      const approval = sn.requestApproval(change.sys_id!, 'beth.anglin');
      sn.approve(approval.sys_id!, 'beth.anglin', 'ok by me');
      const r = await sn.sendBusinessRule(receiver.url, 'sysapproval_approver', approval.sys_id!, ['state'], { secret: 'sn-webhook-secret' });
      assert.equal(r.status, 200);
      const got = receiver.received[0]!;
      assert.equal(got.headers['x-hub-signature-256'], `sha256=${createHmac('sha256', 'sn-webhook-secret').update(got.rawBody).digest('hex')}`);
      assert.equal(got.headers['x-approval-hub-event'], 'decision.recorded');
      assert.equal(got.headers['x-approval-hub-delivery'], `sysapproval_approver:${approval.sys_id}:1`);
      const body = JSON.parse(got.rawBody) as { event: string; table: string; changed: string[]; record: Record<string, string> };
      assert.equal(body.event, 'decision.recorded');
      assert.equal(body.table, 'sysapproval_approver');
      assert.deepEqual(body.changed, ['state']);
      assert.equal(body.record.state, 'approved');
      assert.equal(body.record['approver.email'], 'beth.anglin@acme.example');
      assert.equal(body.record.sysapproval, change.sys_id);
      assert.match(body.record.comments!, /^2026-11-24 \d\d:\d\d:\d\d - Beth Anglin \(Comments\)\nok by me\n\n$/);
    } finally {
      await receiver.close();
    }
  });
});
