// The fake GitHub keeps the GitHub App contract: app JWT → installation token, the deployment
// protection rule callback, pre-approval reads, webhook deliveries and redelivery.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, sign } from 'node:crypto';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAppAuth } from '@octokit/auth-app';
import { request as octokitRequest } from '@octokit/request';
import { HttpError, type VendorFacts } from '../../src/sdk/index.ts';
import { startFakeGitHub, type FakeGitHub } from '../fakes/github.ts';
import { startReceiver } from '../fakes/receiver.ts';
import { all, clientOn, sharedClock } from './support.ts';

const vendor: VendorFacts = { pagination: 'link-header', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] };
const clock = sharedClock(Date.now());
let gh: FakeGitHub;
let auth: ReturnType<typeof createAppAuth>;

function jwt(claims: Record<string, unknown>, alg = 'RS256'): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${enc({ alg, typ: 'JWT' })}.${enc(claims)}`;
  return `${data}.${sign('RSA-SHA256', Buffer.from(data), createPrivateKey(gh.privateKey)).toString('base64url')}`;
}
async function installationToken(): Promise<string> {
  return ((await auth({ type: 'installation', installationId: 1001 })) as { token: string }).token;
}
const hub = () => clientOn(gh.url, { type: 'github-app', appId: gh.appId, installationId: 1001 }, vendor, clock, { authHeaders: async () => ({ authorization: `Bearer ${await installationToken()}`, accept: 'application/vnd.github+json' }) });

before(async () => {
  gh = await startFakeGitHub({ now: clock.now });
  auth = createAppAuth({ appId: gh.appId, privateKey: gh.privateKey, request: octokitRequest.defaults({ baseUrl: gh.url }) });
});
after(() => gh.close());

describe('fake GitHub', () => {
  it("issues an installation token (201) for @octokit/auth-app's RS256 app JWT", async () => {
    const token = await installationToken();
    assert.match(token, /^ghs_/);
    assert.equal(gh.tokens.get(token)!.installationId, 1001);
  });

  it('refuses app JWTs with the wrong issuer, a too-long life, a missing or future iat, or another algorithm', async () => {
    const nowSec = Math.floor(clock.now() / 1000);
    const cases: [string, string][] = [
      [jwt({ iss: 999, iat: nowSec - 30, exp: nowSec + 540 }), "'Issuer' claim"],
      [jwt({ iss: gh.appId, iat: nowSec, exp: nowSec + 3600 }), 'too far in the future'],
      [jwt({ iss: gh.appId, iat: nowSec - 30, exp: nowSec + 540 }, 'RS512'), "'alg' must be RS256"],
      [jwt({ iss: gh.appId, iat: nowSec - 700, exp: nowSec - 100 }), "'Expiration time'"],
      // exp at most 10 minutes after iat, even when both are in the past a little.
      [jwt({ iss: gh.appId, iat: nowSec - 60, exp: nowSec + 545 }), 'too far in the future'],
      [jwt({ iss: gh.appId, exp: nowSec + 540 }), "'Issued at' claim ('iat')"],
      [jwt({ iss: gh.appId, iat: nowSec + 120, exp: nowSec + 540 }), "'Issued at' claim ('iat')"],
      [jwt({ iss: gh.appId, iat: String(nowSec - 30), exp: String(nowSec + 540) }), "'Issued at' claim ('iat')"],
    ];
    for (const [token, message] of cases) {
      const res = await fetch(`${gh.url}/app/installations/1001/access_tokens`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401);
      const body = (await res.json()) as { message: string; documentation_url: string };
      assert.ok(body.message.includes(message), body.message);
      assert.ok(body.documentation_url);
    }
    // The app id as a string (what the hub's connection settings hold) with exp exactly 10 minutes after iat.
    const ok = await fetch(`${gh.url}/app/installations/1001/access_tokens`, { method: 'POST', headers: { authorization: `Bearer ${jwt({ iss: String(gh.appId), iat: nowSec - 30, exp: nowSec + 570 })}` } });
    assert.equal(ok.status, 201);
  });

  it('answers 401 Bad credentials to API calls without an installation token, with the unauthenticated rate limit', async () => {
    const res = await fetch(`${gh.url}/repos/acme/payments-api/pulls/1/reviews`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { message: string }).message, 'Bad credentials');
    assert.equal(res.headers.get('x-ratelimit-limit'), '60');
    assert.ok(res.headers.get('x-ratelimit-reset'));
  });

  it('refuses a request without a User-Agent (403, plain text) and an API version it does not serve (400)', async () => {
    const noAgent = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      // node:http sends no User-Agent unless told to (fetch always does).
      get(`${gh.url}/installation/repositories`, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
      }).on('error', reject);
    });
    assert.equal(noAgent.status, 403);
    assert.match(noAgent.type, /^text\/plain/);
    assert.match(noAgent.body, /User-Agent header/);
    const res = await fetch(`${gh.url}/installation/repositories`, { headers: { authorization: `token ${await installationToken()}`, 'x-github-api-version': '2021-01-01' } });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { message: string }).message, 'API version 2021-01-01 is not supported.');
  });

  it('sends a signed deployment_protection_rule webhook whose callback URL the hub answers with 204', async () => {
    const receiver = await startReceiver(200);
    try {
      const sent = await gh.sendDeploymentProtectionRule(receiver.url, { secret: 'gh-secret', runId: 555, environment: 'production' });
      assert.equal(sent.status, 200);
      const got = receiver.received[0]!;
      assert.equal(got.headers['x-github-event'], 'deployment_protection_rule');
      assert.equal(got.headers['x-github-delivery'], sent.guid);
      assert.equal(got.headers['x-hub-signature-256'], `sha256=${createHmac('sha256', 'gh-secret').update(got.rawBody).digest('hex')}`);
      const payload = JSON.parse(got.rawBody) as { deployment_callback_url: string; environment: string; installation: { id: number } };
      assert.equal(payload.deployment_callback_url, `${gh.url}/repos/acme/payments-api/actions/runs/555/deployment_protection_rule`);
      assert.equal(payload.installation.id, 1001);

      const run = () => hub().request<{ status: string }>({ method: 'GET', path: '/repos/acme/payments-api/actions/runs/555' });
      assert.equal((await run()).body.status, 'waiting');
      // Neither a state nor a comment: matches neither body the endpoint takes.
      const empty = await hub().request({ method: 'POST', path: payload.deployment_callback_url, body: { environment_name: 'production' } }).catch((e: unknown) => e);
      assert.equal((empty as HttpError).status, 422);
      // A comment alone is a status note on the waiting run, not a decision.
      const note = await hub().request({ method: 'POST', path: payload.deployment_callback_url, body: { environment_name: 'production', comment: 'Waiting for CAB' } });
      assert.equal(note.status, 204);
      assert.equal((await run()).body.status, 'waiting');
      const res = await hub().request({ method: 'POST', path: payload.deployment_callback_url, body: { environment_name: 'production', state: 'approved', comment: 'CAB approved CHG0030012' } });
      assert.equal(res.status, 204);
      assert.deepEqual(
        gh.state.decisions.map((d) => [d.runId, d.environment_name, d.state, d.comment]),
        [
          [555, 'production', null, 'Waiting for CAB'],
          [555, 'production', 'approved', 'CAB approved CHG0030012'],
        ],
      );
      assert.equal((await run()).body.status, 'in_progress');
      const again = await hub().request({ method: 'POST', path: payload.deployment_callback_url, body: { environment_name: 'production', state: 'rejected' } }).catch((e: unknown) => e);
      assert.ok(again instanceof HttpError);
      assert.equal(again.status, 422);
      assert.match(String((again as HttpError).message), /No pending custom deployment requests in workflow run `555`/);
      // GitHub: nothing pending for the app in that environment is 422, like an answered rule; an unknown run is 404.
      const otherEnv = await hub().request({ method: 'POST', path: payload.deployment_callback_url, body: { environment_name: 'staging', state: 'approved' } }).catch((e: unknown) => e);
      assert.equal((otherEnv as HttpError).status, 422);
      const unknownRun = await hub().request({ method: 'POST', path: payload.deployment_callback_url.replace('/555/', '/777/'), body: { environment_name: 'production', state: 'approved' } }).catch((e: unknown) => e);
      assert.equal((unknownRun as HttpError).status, 404);
    } finally {
      await receiver.close();
    }
  });

  it('times a protection rule out after 30 days undecided: the run fails and the callback has nothing to answer (422)', async () => {
    const receiver = await startReceiver(200);
    try {
      const sent = await gh.sendDeploymentProtectionRule(receiver.url, { secret: 's', runId: 561 });
      gh.gates.get('acme/payments-api/561')!.requestedAt -= 30 * 24 * 3600_000;
      const run = await hub().request<{ status: string; conclusion: string | null }>({ method: 'GET', path: '/repos/acme/payments-api/actions/runs/561' });
      assert.deepEqual([run.body.status, run.body.conclusion], ['completed', 'failure']);
      const late = await hub().request({ method: 'POST', path: sent.payload.deployment_callback_url as string, body: { environment_name: 'production', state: 'approved' } }).catch((e: unknown) => e);
      assert.equal((late as HttpError).status, 422);
    } finally {
      await receiver.close();
    }
  });

  it('lists reviews with Link paging ("; rel" with a space) and checks, statuses and code scanning alerts', async () => {
    for (const login of ['ana', 'bo', 'cy']) gh.addReview('acme/payments-api', 7, { login, state: 'APPROVED' });
    const raw = await fetch(`${gh.url}/repos/acme/payments-api/pulls/7/reviews?per_page=2`, { headers: { authorization: `Bearer ${await installationToken()}` } });
    assert.match(raw.headers.get('link')!, /; rel="next", <[^>]+>; rel="last"$/);
    // Like GitHub's, the links name the repository by id; the URL works like the /repos/{owner}/{repo} one.
    assert.match(raw.headers.get('link')!, /^<http:\/\/127\.0\.0\.1:\d+\/repositories\/186853002\/pulls\/7\/reviews\?per_page=2&page=2>; rel="next"/);
    assert.equal(raw.headers.get('x-ratelimit-limit'), '5000');
    const logins = await all(hub().paginate({ method: 'GET', path: '/repos/acme/payments-api/pulls/7/reviews', query: { per_page: 2 } }, (b) => (b as { user: { login: string } }[]).map((r) => r.user.login)));
    assert.deepEqual(logins, ['ana', 'bo', 'cy']);

    gh.addCheckRun('acme/payments-api', 'abc123', { name: 'build', status: 'completed', conclusion: 'success' });
    gh.addCheckRun('acme/payments-api', 'abc123', { name: 'e2e', status: 'in_progress' });
    const checks = await hub().request<{ total_count: number; check_runs: { name: string; conclusion: string | null }[] }>({ method: 'GET', path: '/repos/acme/payments-api/commits/abc123/check-runs' });
    assert.equal(checks.body.total_count, 2);
    assert.deepEqual(checks.body.check_runs.map((c) => [c.name, c.conclusion]), [['build', 'success'], ['e2e', null]]);
    // A re-run: filter=latest (the default) shows only the newest run of each check, filter=all every run.
    gh.addCheckRun('acme/payments-api', 'abc123', { name: 'e2e', status: 'completed', conclusion: 'failure' });
    const latest = await hub().request<{ total_count: number; check_runs: { name: string; conclusion: string | null }[] }>({ method: 'GET', path: '/repos/acme/payments-api/commits/abc123/check-runs' });
    assert.deepEqual(latest.body.check_runs.map((c) => [c.name, c.conclusion]), [['build', 'success'], ['e2e', 'failure']]);
    const every = await hub().request<{ total_count: number }>({ method: 'GET', path: '/repos/acme/payments-api/commits/abc123/check-runs', query: { filter: 'all' } });
    assert.equal(every.body.total_count, 3);

    gh.addStatus('acme/payments-api', 'abc123', { context: 'ci/legacy', state: 'pending' });
    gh.addStatus('acme/payments-api', 'abc123', { context: 'ci/legacy', state: 'success' });
    const status = await hub().request<{ state: string; total_count: number }>({ method: 'GET', path: '/repos/acme/payments-api/commits/abc123/status' });
    assert.deepEqual([status.body.state, status.body.total_count], ['success', 1]);

    gh.addCodeScanningAlert('acme/payments-api', { severity: 'critical' });
    gh.addCodeScanningAlert('acme/payments-api', { severity: 'low', state: 'dismissed' });
    const alerts = await hub().request<{ number: number }[]>({ method: 'GET', path: '/repos/acme/payments-api/code-scanning/alerts', query: { state: 'open', ref: 'refs/heads/main' } });
    assert.deepEqual(alerts.body.map((a) => a.number), [1]);
  });

  it('lists the installation repositories (the connector health check)', async () => {
    const res = await hub().request<{ total_count: number; repositories: { full_name: string }[] }>({ method: 'GET', path: '/installation/repositories', query: { per_page: 1 } });
    assert.equal(res.body.total_count, 1);
    assert.deepEqual(res.body.repositories.map((r) => r.full_name), ['acme/payments-api']);
  });

  it('refuses a call the installation was not granted the permission for (403) and lists what it was granted with the token', async () => {
    const limited = await startFakeGitHub({ privateKey: gh.privateKey, installations: [{ id: 7, account: 'acme', repositories: ['acme/payments-api'], permissions: { metadata: 'read', checks: 'read' } }] });
    try {
      const limitedAuth = createAppAuth({ appId: limited.appId, privateKey: limited.privateKey, request: octokitRequest.defaults({ baseUrl: limited.url }) });
      const granted = (await limitedAuth({ type: 'installation', installationId: 7 })) as { token: string; permissions: Record<string, string> };
      assert.deepEqual(granted.permissions, { metadata: 'read', checks: 'read' });
      const headers = { authorization: `token ${granted.token}` };
      assert.equal((await fetch(`${limited.url}/repos/acme/payments-api/commits/abc/check-runs`, { headers })).status, 200);
      const refused = await fetch(`${limited.url}/repos/acme/payments-api/commits/abc/status`, { headers });
      assert.equal(refused.status, 403);
      assert.equal(((await refused.json()) as { message: string }).message, 'Resource not accessible by integration');
    } finally {
      await limited.close();
    }
  });

  it('hides repositories outside the installation (404)', async () => {
    const err = await hub().request({ method: 'GET', path: '/repos/other/repo/pulls/1/reviews' }).catch((e: unknown) => e);
    assert.equal((err as HttpError).status, 404);
  });

  it('lists webhook deliveries and redelivers one with the same GUID', async () => {
    const receiver = await startReceiver(500);
    try {
      const sent = await gh.sendDeploymentProtectionRule(receiver.url, { secret: 's', runId: 556 });
      assert.equal(sent.status, 500);
      const appJwt = ((await auth({ type: 'app' })) as { token: string }).token;
      const app = clientOn(gh.url, { type: 'bearer', token: appJwt }, vendor, clock);
      const list = await app.request<{ id: number; guid: string; status_code: number; redelivery: boolean }[]>({ method: 'GET', path: '/app/hook/deliveries' });
      const failed = list.body.find((d) => d.guid === sent.guid)!;
      assert.equal(failed.status_code, 500);
      receiver.answer(200);
      const res = await app.request({ method: 'POST', path: `/app/hook/deliveries/${failed.id}/attempts` });
      assert.equal(res.status, 202);
      await gh.redeliveriesSent();
      assert.deepEqual(receiver.received.map((r) => r.headers['x-github-delivery']), [sent.guid, sent.guid]);
      assert.equal(gh.deliveries.at(-1)!.redelivery, true);
    } finally {
      await receiver.close();
    }
  });

  it('fails a delivery the receiver does not answer in time (GitHub waits 10 s)', async () => {
    const quick = await startFakeGitHub({ deliveryTimeoutMs: 200, privateKey: gh.privateKey });
    const silent = createServer(() => {}); // reads the request, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const sent = await quick.sendDeploymentProtectionRule(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/webhooks`, { secret: 's' });
      assert.equal(sent.status, 0);
      assert.deepEqual([quick.deliveries.at(-1)!.status_code, quick.deliveries.at(-1)!.status], [0, 'timed out']);
    } finally {
      silent.closeAllConnections();
      await Promise.all([new Promise((r) => silent.close(r)), quick.close()]);
    }
  });

  it('pages deliveries by cursor, newest first, and redelivers only those from the past 3 days', async () => {
    let t = Date.parse('2026-11-20T10:00:00Z');
    const other = await startFakeGitHub({ now: () => t, privateKey: gh.privateKey });
    const receiver = await startReceiver(500);
    try {
      for (const runId of [1, 2, 3]) await other.sendDeploymentProtectionRule(receiver.url, { secret: 's', runId });
      const bearer = () => {
        const s = Math.floor(t / 1000);
        return { authorization: `Bearer ${jwt({ iss: other.appId, iat: s - 30, exp: s + 570 })}` };
      };
      const first = await fetch(`${other.url}/app/hook/deliveries?per_page=2&page=2`, { headers: bearer() });
      const link = first.headers.get('link')!;
      assert.match(link, /^<[^>]+[?&]cursor=v1_\d+>; rel="next"$/);
      const second = await fetch(link.slice(1, link.indexOf('>')), { headers: bearer() });
      assert.equal(second.headers.get('link'), null);
      const listed = [...((await first.json()) as { id: number }[]), ...((await second.json()) as { id: number }[])];
      assert.deepEqual(listed.map((d) => d.id), other.deliveries.map((d) => d.id).reverse(), 'page is ignored: the cursor pages');

      t += 3 * 24 * 3600_000 + 1000;
      const late = await fetch(`${other.url}/app/hook/deliveries/${listed[0]!.id}/attempts`, { method: 'POST', headers: bearer() });
      assert.equal(late.status, 422);
      assert.equal(receiver.received.length, 3);
    } finally {
      await Promise.all([receiver.close(), other.close()]);
    }
  });

  it('refuses every call once the hourly budget is spent (429 here, 403 by default; remaining 0) until x-ratelimit-reset', async () => {
    const small = await startFakeGitHub({ rateLimitPerHour: 2, rateLimitStatus: 429, privateKey: gh.privateKey });
    try {
      const smallAuth = createAppAuth({ appId: small.appId, privateKey: small.privateKey, request: octokitRequest.defaults({ baseUrl: small.url }) });
      const token = ((await smallAuth({ type: 'installation', installationId: 1001 })) as { token: string }).token;
      const get = () => fetch(`${small.url}/installation/repositories`, { headers: { authorization: `token ${token}` } });
      const answers = [await get(), await get(), await get()];
      assert.deepEqual(answers.map((r) => [r.status, r.headers.get('x-ratelimit-remaining')]), [[200, '1'], [200, '0'], [429, '0']]);
      assert.match(((await answers[2]!.json()) as { message: string }).message, /^API rate limit exceeded/);
      const reset = Number(answers[2]!.headers.get('x-ratelimit-reset'));
      assert.equal(reset, Number(answers[0]!.headers.get('x-ratelimit-reset')), 'the window does not move');
      assert.ok(reset * 1000 > Date.now() + 3500_000);
      // The hub's client, having seen remaining 0, does not send the call at all: it says when to come back.
      const client = clientOn(small.url, { type: 'bearer', token }, vendor, sharedClock(Date.now()));
      const mark = small.calls.length;
      await client.request({ method: 'GET', path: '/installation/repositories' }).catch(() => undefined);
      const refused = await client.request({ method: 'GET', path: '/installation/repositories' }).catch((e: unknown) => e);
      assert.ok(refused instanceof HttpError && refused.retryAfterMs !== null && refused.retryAfterMs > 3500_000, String(refused));
      assert.equal(small.calls.length - mark, 1);
    } finally {
      await small.close();
    }
  });

  it('answers a primary rate limit with 403 and x-ratelimit-remaining: 0, and a secondary one with retry-after', async () => {
    gh.rateLimit(4);
    const before = gh.calls.length;
    await hub().request({ method: 'GET', path: '/repos/acme/payments-api/commits/abc123/status' });
    const seen = gh.calls.slice(before).filter((c) => !c.path.startsWith('/app/'));
    assert.deepEqual(seen.map((c) => c.status), [403, 200]);
    assert.ok(seen[1]!.at - seen[0]!.at >= 3000);

    gh.secondaryRateLimitNext(1, 2);
    const mark = gh.calls.length;
    await hub().request({ method: 'GET', path: '/repos/acme/payments-api/commits/abc123/status' });
    const second = gh.calls.slice(mark).filter((c) => !c.path.startsWith('/app/'));
    assert.deepEqual(second.map((c) => c.status), [403, 200]);
    assert.ok(second[1]!.at - second[0]!.at >= 2000);
    assert.ok(second[1]!.at - second[0]!.at < 60_000, 'retry-after, not the hourly reset');
    // The secondary limit's answer carries the (unspent) hourly budget too.
    gh.secondaryRateLimitNext(1, 2);
    const raw = await fetch(`${gh.url}/repos/acme/payments-api/commits/abc123/status`, { headers: { authorization: `token ${await installationToken()}` } });
    assert.equal(raw.status, 403);
    assert.equal(raw.headers.get('retry-after'), '2');
    assert.ok(Number(raw.headers.get('x-ratelimit-remaining')) > 0);
  });
});
