// Retries and rate limits: the client waits as long as the vendor asks (measured on a fake clock that
// the client's sleep advances), never calls earlier, and hands long waits back to the queue.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { HttpError } from '../../../src/sdk/index.ts';
import { clientFor, connection, rejection, secret, vendors } from './support.ts';

const SN = 'https://acme.service-now.example';
const GH = 'https://api.github.example';
const JIRA = 'https://acme.atlassian.example';
const server = setupServer();
before(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
after(() => server.close());

const snRateLimited = { error: { message: 'Rate limit exceeded', detail: 'Too many requests for user hub.integration' }, status: 'failure' };
const github = (over = {}) =>
  clientFor({ connection: connection({ id: 'github', baseUrl: GH, auth: { type: 'bearer', token: secret('ghs_x') } }), vendor: vendors.github, ...over });

/** Serves `responses` in order (the last one repeats) and records the fake-clock time of each call. */
function sequence(method: 'get' | 'post', url: string, clockNow: () => number, responses: (() => Response)[]) {
  const arrivals: number[] = [];
  server.use(
    http[method](url, () => {
      arrivals.push(clockNow());
      return responses[Math.min(arrivals.length - 1, responses.length - 1)]!();
    }),
  );
  return arrivals;
}

describe('Retry-After and reset headers', () => {
  it('waits Retry-After seconds after a ServiceNow 429 before calling again', async () => {
    const { client, clock } = clientFor();
    const arrivals = sequence('get', `${SN}/api/now/table/change_request`, clock.now, [
      () => HttpResponse.json(snRateLimited, { status: 429, headers: { 'Retry-After': '7', 'X-RateLimit-Limit': '1000' } }),
      () => HttpResponse.json({ result: [] }),
    ]);
    const res = await client.request({ method: 'GET', path: '/api/now/table/change_request' });
    assert.equal(res.status, 200);
    assert.equal(arrivals.length, 2);
    assert.ok(arrivals[1]! - arrivals[0]! >= 7000, `second call ${arrivals[1]! - arrivals[0]!} ms after the first`);
  });

  it('honours Retry-After as an HTTP-date', async () => {
    const { client, clock } = clientFor();
    const until = new Date(clock.t + 12_000).toUTCString();
    const arrivals = sequence('get', `${SN}/x`, clock.now, [
      () => HttpResponse.json(snRateLimited, { status: 429, headers: { 'Retry-After': until } }),
      () => HttpResponse.json({ result: [] }),
    ]);
    await client.request({ method: 'GET', path: '/x' });
    assert.ok(arrivals[1]! >= Date.parse(until), 'called before the date the vendor gave');
  });

  it('honours ServiceNow X-RateLimit-Reset (epoch seconds) when a 429 has no Retry-After', async () => {
    const { client, clock } = clientFor();
    const resetSec = Math.ceil(clock.t / 1000) + 20;
    const arrivals = sequence('get', `${SN}/x`, clock.now, [
      () => HttpResponse.json(snRateLimited, { status: 429, headers: { 'X-RateLimit-Reset': String(resetSec) } }),
      () => HttpResponse.json({ result: [] }),
    ]);
    await client.request({ method: 'GET', path: '/x' });
    assert.ok(arrivals[1]! >= resetSec * 1000);
  });

  it('honours Jira X-RateLimit-Reset as an ISO time', async () => {
    const { client, clock } = clientFor({ vendor: vendors.jira, connection: connection({ id: 'jira', baseUrl: JIRA }) });
    const reset = new Date(clock.t + 15_000).toISOString();
    const arrivals = sequence('get', `${JIRA}/rest/api/3/issue/CHG-1`, clock.now, [
      () => HttpResponse.json({ errorMessages: ['Rate limit exceeded'] }, { status: 429, headers: { 'X-RateLimit-Reset': reset, 'RateLimit-Reason': 'jira-burst-based' } }),
      () => HttpResponse.json({ id: '1', key: 'CHG-1', fields: {} }),
    ]);
    await client.request({ method: 'GET', path: '/rest/api/3/issue/CHG-1' });
    assert.ok(arrivals[1]! >= Date.parse(reset));
  });

  it('does not call again before GitHub x-ratelimit-reset once a 200 says remaining is 0', async () => {
    const { client, clock } = github();
    const resetSec = Math.ceil(clock.t / 1000) + 10;
    const arrivals = sequence('get', `${GH}/repos/acme/pay/commits/abc/status`, clock.now, [
      () => HttpResponse.json({ state: 'success', statuses: [] }, { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(resetSec) } }),
      () => HttpResponse.json({ state: 'success', statuses: [] }),
    ]);
    await client.request({ method: 'GET', path: '/repos/acme/pay/commits/abc/status' });
    await client.request({ method: 'GET', path: '/repos/acme/pay/commits/abc/status' });
    assert.ok(arrivals[1]! >= resetSec * 1000);
  });

  it('falls back to backoff retries on 429 without any timing header', async () => {
    const { client, clock } = clientFor();
    const arrivals = sequence('get', `${SN}/x`, clock.now, [
      () => HttpResponse.json(snRateLimited, { status: 429 }),
      () => HttpResponse.json({ result: 'ok' }),
    ]);
    const res = await client.request({ method: 'GET', path: '/x' });
    assert.deepEqual(res.body, { result: 'ok' });
    assert.equal(arrivals.length, 2);
  });
});

describe('GitHub 403', () => {
  it('treats 403 with x-ratelimit-remaining: 0 as a primary rate limit and retries after the reset', async () => {
    const { client, clock } = github();
    const resetSec = Math.ceil(clock.t / 1000) + 5;
    const arrivals = sequence('get', `${GH}/repos/acme/pay/pulls/7/reviews`, clock.now, [
      () =>
        HttpResponse.json(
          { message: 'API rate limit exceeded for installation ID 1.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api', status: '403' },
          { status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(resetSec), 'x-ratelimit-resource': 'core' } },
        ),
      () => HttpResponse.json([{ id: 1, state: 'APPROVED' }]),
    ]);
    const res = await client.request({ method: 'GET', path: '/repos/acme/pay/pulls/7/reviews' });
    assert.deepEqual(res.body, [{ id: 1, state: 'APPROVED' }]);
    assert.ok(arrivals[1]! >= resetSec * 1000);
  });

  it('treats 403 with retry-after as a secondary rate limit and waits before retrying', async () => {
    const { client, clock } = github();
    const arrivals = sequence('get', `${GH}/x`, clock.now, [
      () => HttpResponse.json({ message: 'You have exceeded a secondary rate limit.' }, { status: 403, headers: { 'retry-after': '3' } }),
      () => HttpResponse.json({ ok: true }),
    ]);
    const res = await client.request({ method: 'GET', path: '/x' });
    assert.deepEqual(res.body, { ok: true });
    assert.ok(arrivals[1]! - arrivals[0]! >= 3000);
  });

  it('treats a 403 without rate-limit headers as a final permission error', async () => {
    const { client, clock } = github();
    const arrivals = sequence('post', `${GH}/repos/acme/pay/actions/runs/42/deployment_protection_rule`, clock.now, [
      () => HttpResponse.json({ message: 'Resource not accessible by integration', status: '403' }, { status: 403, headers: { 'x-ratelimit-remaining': '4999' } }),
    ]);
    const err = await rejection(client.request({ method: 'POST', path: '/repos/acme/pay/actions/runs/42/deployment_protection_rule', body: { environment_name: 'production', state: 'approved' } }));
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 403);
    assert.equal(err.retryAfterMs, null);
    assert.match(err.message, /Resource not accessible by integration/);
    assert.equal(arrivals.length, 1);
  });
});

describe('long waits go back to the queue', () => {
  it('throws HttpError with retryAfterMs instead of sleeping past the cap, then refuses early calls', async () => {
    const { client, clock } = clientFor({ maxWaitMs: 30_000 });
    const arrivals = sequence('get', `${SN}/x`, clock.now, [
      () => HttpResponse.json(snRateLimited, { status: 429, headers: { 'Retry-After': '120' } }),
      () => HttpResponse.json({ result: [] }),
    ]);
    const err = await rejection(client.request({ method: 'GET', path: '/x' }));
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 429);
    assert.equal(err.retryAfterMs, 120_000);
    assert.match(err.message, /Rate limit exceeded/);
    assert.deepEqual(clock.sleeps, []);
    // Another call on this connection a minute later is not sent either: the vendor said two minutes.
    clock.t += 60_000;
    const early = await rejection(client.request({ method: 'GET', path: '/x' }));
    assert.equal((early as unknown as HttpError).retryAfterMs, 60_000);
    assert.equal(arrivals.length, 1);
    clock.t += 60_000;
    assert.equal((await client.request({ method: 'GET', path: '/x' })).status, 200);
    assert.equal(arrivals.length, 2);
  });
});

describe('server errors and network failures', () => {
  it('retries 5xx and then succeeds', async () => {
    const { client, clock } = clientFor();
    const arrivals = sequence('get', `${SN}/x`, clock.now, [
      () => HttpResponse.json({ error: { message: 'Internal' } }, { status: 502 }),
      () => HttpResponse.json({ error: { message: 'Internal' } }, { status: 503, headers: { 'Retry-After': '2' } }),
      () => HttpResponse.json({ result: 'ok' }),
    ]);
    const res = await client.request({ method: 'GET', path: '/x' });
    assert.deepEqual(res.body, { result: 'ok' });
    assert.equal(arrivals.length, 3);
    assert.ok(arrivals[2]! - arrivals[1]! >= 2000);
  });

  it('gives up after the configured retries with the last vendor error', async () => {
    const { client, clock, lines } = clientFor({ retry: { retries: 2, minMs: 0, maxMs: 0 } });
    const arrivals = sequence('get', `${SN}/x`, clock.now, [() => HttpResponse.json({ error: { message: 'Database unavailable' } }, { status: 500 })]);
    const err = await rejection(client.request({ method: 'GET', path: '/x' }));
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 500);
    assert.match(err.message, /answered 500: Database unavailable/);
    assert.equal(arrivals.length, 3);
    assert.equal(lines.filter((l) => l.msg === 'vendor call failed; retrying').length, 2);
  });

  it('retries network errors', async () => {
    const { client, clock } = clientFor();
    const arrivals = sequence('get', `${SN}/x`, clock.now, [() => HttpResponse.error(), () => HttpResponse.json({ result: 1 })]);
    const res = await client.request({ method: 'GET', path: '/x' });
    assert.deepEqual(res.body, { result: 1 });
    assert.equal(arrivals.length, 2);
  });
});

describe('a POST the vendor may have applied', () => {
  it('is not sent again after a 5xx or a lost answer: the error goes to the job, whose retry looks first', async () => {
    const { client, clock } = clientFor();
    const created = sequence('post', `${SN}/api/now/table/change_request`, clock.now, [
      () => HttpResponse.json({ error: { message: 'Transaction cancelled: maximum execution time exceeded' } }, { status: 503 }),
      () => HttpResponse.json({ result: { sys_id: 'b'.repeat(32) } }, { status: 201 }),
    ]);
    const err = await rejection(client.request({ method: 'POST', path: '/api/now/table/change_request', body: { short_description: 'x' } }));
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 503);
    assert.equal(created.length, 1);

    const commented = sequence('post', `${SN}/api/now/table/sys_journal_field`, clock.now, [() => HttpResponse.error(), () => HttpResponse.json({ result: {} }, { status: 201 })]);
    const lost = await rejection(client.request({ method: 'POST', path: '/api/now/table/sys_journal_field', body: {} }));
    assert.ok(lost instanceof HttpError);
    assert.equal(lost.status, 0);
    assert.equal(commented.length, 1);
  });

  it('is sent again after a rate limit (refused unapplied), and when the request says it is idempotent', async () => {
    const { client, clock } = clientFor();
    const limited = sequence('post', `${SN}/api/now/table/change_request`, clock.now, [
      () => HttpResponse.json({ error: { message: 'Rate limit exceeded' } }, { status: 429, headers: { 'Retry-After': '1' } }),
      () => HttpResponse.json({ result: { sys_id: 'c'.repeat(32) } }, { status: 201 }),
    ]);
    assert.equal((await client.request({ method: 'POST', path: '/api/now/table/change_request', body: {} })).status, 201);
    assert.equal(limited.length, 2);

    const callback = sequence('post', `${SN}/hooks/approval-hub`, clock.now, [() => HttpResponse.json({}, { status: 502 }), () => HttpResponse.json({}, { status: 200 })]);
    assert.equal((await client.request({ method: 'POST', path: '/hooks/approval-hub', headers: { 'Idempotency-Key': 'k' }, body: {}, idempotent: true })).status, 200);
    assert.equal(callback.length, 2);
  });
});
