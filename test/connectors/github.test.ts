// GitHub connector: signature checks, GitHub App authentication, the gate answer (with its SSRF guard),
// package validation and redelivery of failed deliveries, against msw with the shared HTTP client.
// Response shapes follow /work/shared/VENDOR-APIS.md §6; the check run is the `check_run` object of
// /work/shared/vendor-payloads/github-check_run.completed.json (@octokit/webhooks-examples).
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import github from '../../connectors/github/index.ts';
import { createHttpClient } from '../../src/http-client/index.ts';
import { HttpError } from '../../src/sdk/index.ts';
import { actionContext, actionInput, actionOf, allPages, memoryLogger } from './support/context.ts';
import { connectionFor } from './support/fixtures.ts';

const GH = 'https://api.github.com';
const server = setupServer();
before(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
after(() => server.close());

// GitHub hands out PKCS#1 ("BEGIN RSA PRIVATE KEY") App keys.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const appAuth = { type: 'github-app', appId: '123456', privateKey, installationId: '2311213' };
const conn = connectionFor('github', { baseUrl: GH, auth: appAuth, webhook: { secret: 'gh-secret' }, options: { jira: 'jira-cloud' } });
const callbackUrl = `${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210/deployment_protection_rule`;
const gate = {
  kind: 'deployment-gate',
  externalId: 'Codertocat/Hello-World/runs/9876543210/production',
  data: { callbackUrl, environment: 'production', runId: '9876543210', repository: 'Codertocat/Hello-World', sha: 'f95f852bd8fca8fcc58a9a2d6c842781e32a215e', ref: 'master', pullRequests: [2] },
};

function jwtClaims(authorization: string | null): Record<string, unknown> {
  const token = (authorization ?? '').replace(/^Bearer /, '');
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

function tokenExchange(counter: { n: number }, base = GH) {
  return http.post(`${base}/app/installations/2311213/access_tokens`, ({ request }) => {
    counter.n++;
    assert.equal(jwtClaims(request.headers.get('authorization')).iss, '123456');
    return HttpResponse.json({ token: 'ghs_installation_token', expires_at: '2099-01-01T00:00:00Z', permissions: { deployments: 'write' } }, { status: 201 });
  });
}

async function ctxWithAppAuth(connection = conn, cursor: string | null = null) {
  const auth = github.auth!(connection, globalThis.fetch);
  return actionContext(github, connection, { authHeaders: () => auth.headers(), cursor });
}

describe('github webhook verification', () => {
  const body = '{"action":"requested"}';
  const d = (headers: Record<string, string>) => ({ rawBody: Buffer.from(body), headers, receivedAt: new Date() });
  const sig = (s: string) => `sha256=${createHmac('sha256', s).update(body).digest('hex')}`;

  it('accepts X-Hub-Signature-256 made with the App webhook secret', () => {
    assert.deepEqual(github.webhook!.verify(d({ 'x-hub-signature-256': sig('gh-secret') }), conn), { ok: true });
  });
  it('refuses a wrong signature', () => {
    assert.deepEqual(github.webhook!.verify(d({ 'x-hub-signature-256': sig('guess') }), conn), { ok: false, reason: 'x-hub-signature-256 does not match the body' });
  });
  it('refuses a delivery that carries only the legacy sha1 signature', () => {
    const sha1 = `sha1=${createHmac('sha1', 'gh-secret').update(body).digest('hex')}`;
    assert.deepEqual(github.webhook!.verify(d({ 'x-hub-signature': sha1 }), conn), { ok: false, reason: 'missing x-hub-signature-256 header' });
  });
  it('uses X-GitHub-Delivery for dedupe and X-GitHub-Event as the event name', () => {
    const delivery = d({ 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958', 'x-github-event': 'deployment_protection_rule' });
    assert.equal(github.webhook!.dedupeKey(delivery), '72d3162e-cc78-11e3-81ab-4c9367dc0958');
    assert.equal(github.webhook!.eventName(delivery), 'deployment_protection_rule');
  });
});

describe('github app authentication', () => {
  it('a token exchange answered 404 points at installationId', async () => {
    server.use(http.post(`${GH}/app/installations/2311213/access_tokens`, () => HttpResponse.json({ message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }, { status: 404 })));
    const auth = github.auth!(conn, globalThis.fetch);
    await assert.rejects(auth.headers(), (e: unknown) => e instanceof HttpError && e.status === 404 && /answered 404: Not Found.*: check auth\.installationId/.test(e.message));
  });

  it('a privateKey that is not an RSA key is named as the setting to fix, not only "Invalid keyData"', async () => {
    const bad = connectionFor('github', { baseUrl: GH, auth: { ...appAuth, privateKey: 'not a pem' }, webhook: { secret: 'gh-secret' } });
    const auth = github.auth!(bad, globalThis.fetch);
    await assert.rejects(auth.headers(), /connection "github-test": auth\.privateKey is not a usable RSA private key \(.+\): give the App's \.pem file/);
  });

  it('exchanges the App JWT for an installation token once and reuses it until near expiry', async () => {
    const exchanges = { n: 0 };
    server.use(tokenExchange(exchanges));
    const auth = github.auth!(conn, globalThis.fetch);
    assert.deepEqual(await auth.headers(), { authorization: 'token ghs_installation_token' });
    assert.deepEqual(await auth.headers(), { authorization: 'token ghs_installation_token' });
    assert.equal(exchanges.n, 1);
  });

  it("never hands out an installation token less than a minute before GitHub's expires_at", async () => {
    let exchanges = 0;
    server.use(
      http.post(`${GH}/app/installations/2311213/access_tokens`, () => {
        exchanges++;
        // The first token is about to expire (its expires_at, not the cache's 59 minutes, says so); the next lasts 1 h.
        const expiresAt = new Date(Date.now() + (exchanges === 1 ? 30_000 : 3600_000)).toISOString().replace(/\.\d{3}Z$/, 'Z');
        return HttpResponse.json({ token: `ghs_token_${exchanges}`, expires_at: expiresAt, permissions: { deployments: 'write' }, repository_selection: 'selected' }, { status: 201 });
      }),
    );
    const auth = github.auth!(conn, globalThis.fetch);
    assert.deepEqual(await auth.headers(), { authorization: 'token ghs_token_2' });
    assert.deepEqual(await auth.headers(), { authorization: 'token ghs_token_2' });
    assert.equal(exchanges, 2);
  });

  // The token exchange is a REST call like any other: GitHub rate-limits it with 403/429 and the same
  // headers. That is "come back later", not refused credentials.
  const limitedExchange = (status: number, headers: Record<string, string>, message: string) =>
    http.post(`${GH}/app/installations/2311213/access_tokens`, () =>
      HttpResponse.json({ message, documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api', status: String(status) }, { status, headers }),
    );
  const secondary = 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.';
  const cases: [string, ReturnType<typeof limitedExchange>, number][] = [
    ['403 with retry-after', limitedExchange(403, { 'retry-after': '30', 'x-ratelimit-remaining': '4000' }, secondary), 30_000],
    ['403 with the secondary limit only in its message', limitedExchange(403, { 'x-ratelimit-remaining': '4000' }, secondary), 60_000],
    ['429 with x-ratelimit-remaining: 0', limitedExchange(429, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 120) }, 'API rate limit exceeded for app ID 123456.'), 120_000],
  ];
  for (const [name, handler, waitMs] of cases) {
    it(`asks to come back later when the token exchange is rate limited (${name})`, async () => {
      server.use(handler);
      const auth = github.auth!(conn, globalThis.fetch);
      await assert.rejects(auth.headers(), (e: unknown) => {
        assert.ok(e instanceof HttpError);
        assert.ok(e.retryAfterMs !== null && Math.abs(e.retryAfterMs - waitMs) <= 2_000, `retryAfterMs ${String(e.retryAfterMs)}, expected about ${waitMs}`);
        return true;
      });
    });
  }

  it('hands a rate-limited token exchange back to the queue through the HTTP client, with its wait', async () => {
    server.use(cases[0]![1]);
    const ctx = await ctxWithAppAuth();
    await assert.rejects(actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'approved' } }), ctx), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.status, 403);
      assert.equal(e.retryAfterMs, 30_000);
      return true;
    });
  });

  it('reports refused App credentials (401) as final', async () => {
    server.use(http.post(`${GH}/app/installations/2311213/access_tokens`, () => HttpResponse.json({ message: 'A JSON web token could not be decoded', documentation_url: 'https://docs.github.com/rest', status: '401' }, { status: 401 })));
    const auth = github.auth!(conn, globalThis.fetch);
    await assert.rejects(auth.headers(), (e: unknown) => e instanceof HttpError && e.status === 401 && e.retryAfterMs === null);
  });

  it('exchanges the token on a GitHub Enterprise Server API base', async () => {
    const exchanges = { n: 0 };
    const ghes = 'https://ghe.acme.example/api/v3';
    server.use(tokenExchange(exchanges, ghes));
    const auth = github.auth!(connectionFor('github', { baseUrl: ghes, auth: appAuth }), globalThis.fetch);
    assert.deepEqual(await auth.headers(), { authorization: 'token ghs_installation_token' });
    assert.equal(exchanges.n, 1);
  });
});

describe('github answer-gate', () => {
  it('posts the decision to the callback with the installation token when the run is waiting', async () => {
    let posted: { auth: string | null; body: unknown } | null = null;
    server.use(
      tokenExchange({ n: 0 }),
      http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, () => HttpResponse.json({ id: 9876543210, status: 'waiting' })),
      http.post(callbackUrl, async ({ request }) => {
        posted = { auth: request.headers.get('authorization'), body: await request.json() };
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const ctx = await ctxWithAppAuth();
    const result = await actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'rejected', reason: 'CAB rejected: freeze window' } }), ctx);
    assert.deepEqual(result, { status: 'done', link: gate, result: { state: 'rejected' } });
    assert.deepEqual(posted, { auth: 'token ghs_installation_token', body: { environment_name: 'production', state: 'rejected', comment: 'CAB rejected: freeze window' } });
  });

  // GitHub answers 401 "Bad credentials" to an installation token it no longer honours (revoked with
  // DELETE /installation/token, or forgotten by the server) before its expires_at: a new token is asked
  // for once, instead of sending the dead one until the cache lets it go.
  it('asks for a new installation token once when GitHub answers 401 Bad credentials', async () => {
    let exchanges = 0;
    const seen: (string | null)[] = [];
    server.use(
      http.post(`${GH}/app/installations/2311213/access_tokens`, () => {
        exchanges++;
        return HttpResponse.json({ token: `ghs_token_${exchanges}`, expires_at: '2099-01-01T00:00:00Z', permissions: { actions: 'read', deployments: 'write' }, repository_selection: 'selected' }, { status: 201 });
      }),
      http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, ({ request }) => {
        seen.push(request.headers.get('authorization'));
        if (request.headers.get('authorization') === 'token ghs_token_1') {
          return HttpResponse.json({ message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' }, { status: 401 });
        }
        return HttpResponse.json({ id: 9876543210, status: 'waiting', conclusion: null });
      }),
      http.post(callbackUrl, () => new HttpResponse(null, { status: 204 })),
    );
    // Wired as src/pipeline/connections.ts does; the one retry after a 401 is the client's own.
    const auth = github.auth!(conn, globalThis.fetch);
    const client = createHttpClient({
      connection: conn,
      vendor: github.vendor,
      log: memoryLogger(),
      retry: { retries: 1, minMs: 1, maxMs: 1 },
      authHeaders: () => auth.headers(),
      authInvalidate: () => auth.invalidate!(),
    });
    const ctx = { ...(await ctxWithAppAuth()), http: client };
    const result = await actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'approved', reason: 'ok' } }), ctx);
    assert.equal(result.status, 'done');
    assert.deepEqual(seen, ['token ghs_token_1', 'token ghs_token_2']);
    assert.equal(exchanges, 2);
  });

  // A GitHub App has one webhook URL for all its installations, and only the installation the rule fired
  // in may answer it (a token of another installation gets 404/403): the delivery's installation.id wins.
  it('answers a gate from another installation of the App with that installation\'s token', async () => {
    const seen: (string | null)[] = [];
    const other = { ...gate, data: { ...gate.data, installationId: 7654321 } };
    server.use(
      tokenExchange({ n: 0 }),
      http.post(`${GH}/app/installations/7654321/access_tokens`, () =>
        HttpResponse.json({ token: 'ghs_other_installation', expires_at: '2099-01-01T00:00:00Z', permissions: { actions: 'read', deployments: 'write' }, repository_selection: 'selected' }, { status: 201 }),
      ),
      http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, ({ request }) => {
        seen.push(request.headers.get('authorization'));
        return HttpResponse.json({ id: 9876543210, status: 'waiting', conclusion: null });
      }),
      http.post(callbackUrl, ({ request }) => {
        seen.push(request.headers.get('authorization'));
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const ctx = await ctxWithAppAuth();
    const result = await actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: other, params: { outcome: 'approved', reason: 'ok' } }), ctx);
    assert.equal(result.status, 'done');
    assert.deepEqual(seen, ['token ghs_other_installation', 'token ghs_other_installation']);
  });

  // GitHub documents "Waiting" as the status of the *job* awaiting a protection rule; the run's own status
  // says in_progress while other jobs of it still run. Only a completed run has nothing left to answer.
  it('answers the gate while other jobs keep the run in_progress', async () => {
    let posted = false;
    server.use(
      tokenExchange({ n: 0 }),
      http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, () => HttpResponse.json({ id: 9876543210, status: 'in_progress', conclusion: null })),
      http.post(callbackUrl, () => {
        posted = true;
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const ctx = await ctxWithAppAuth();
    const result = await actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'approved', reason: 'ok' } }), ctx);
    assert.deepEqual(result, { status: 'done', link: gate, result: { state: 'approved' } });
    assert.equal(posted, true);
  });

  it('sends nothing when the run has completed', async () => {
    server.use(tokenExchange({ n: 0 }), http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, () => HttpResponse.json({ status: 'completed' })));
    const ctx = await ctxWithAppAuth();
    const result = await actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'approved', reason: 'ok' } }), ctx);
    assert.deepEqual(result, { status: 'already-done', link: gate, result: { runStatus: 'completed' } });
  });

  // The run can be cancelled (or the rule answered) between the look and the POST: GitHub then refuses
  // the callback with 422. That is the gate already closed, not a failure for a person to look at.
  const refusedCallback = (message: string) =>
    http.post(callbackUrl, () =>
      HttpResponse.json(
        { message, documentation_url: 'https://docs.github.com/rest/actions/workflow-runs#review-custom-deployment-protection-rules-for-a-workflow-run', status: '422' },
        { status: 422 },
      ),
    );

  it('reports already-done when the callback is refused (422) because the run stopped waiting meanwhile', async () => {
    let looks = 0;
    server.use(
      tokenExchange({ n: 0 }),
      http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, () =>
        HttpResponse.json(looks++ === 0 ? { id: 9876543210, status: 'waiting', conclusion: null } : { id: 9876543210, status: 'completed', conclusion: 'cancelled' }),
      ),
      refusedCallback('Unable to review the deployment protection rule: the workflow run is not waiting'),
    );
    const ctx = await ctxWithAppAuth();
    const result = await actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'approved', reason: 'ok' } }), ctx);
    assert.deepEqual(result, { status: 'already-done', link: gate, result: { runStatus: 'completed' } });
    assert.equal(looks, 2);
  });

  it('fails on a refused callback (422) while the run is still waiting', async () => {
    server.use(
      tokenExchange({ n: 0 }),
      http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, () => HttpResponse.json({ id: 9876543210, status: 'waiting', conclusion: null })),
      refusedCallback('Validation Failed'),
    );
    const ctx = await ctxWithAppAuth();
    await assert.rejects(actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'approved' } }), ctx), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.status, 422);
      return true;
    });
  });

  // docs.github.com "Troubleshooting the REST API" / client errors: a 422 names what was wrong in
  // errors[] ({resource, field, code} or {code: "custom", message}); "Validation Failed" alone says nothing.
  it("says what GitHub refused: the errors[] of a 422 are part of the error's message", async () => {
    server.use(
      tokenExchange({ n: 0 }),
      http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, () => HttpResponse.json({ id: 9876543210, status: 'waiting', conclusion: null })),
      http.post(callbackUrl, () =>
        HttpResponse.json(
          {
            message: 'Validation Failed',
            errors: [
              { resource: 'DeploymentProtectionRule', field: 'environment_name', code: 'invalid' },
              { resource: 'DeploymentProtectionRule', code: 'custom', message: 'comment is too long (maximum is 1024 characters)' },
            ],
            documentation_url: 'https://docs.github.com/rest/actions/workflow-runs#review-custom-deployment-protection-rules-for-a-workflow-run',
            status: '422',
          },
          { status: 422 },
        ),
      ),
    );
    const ctx = await ctxWithAppAuth();
    await assert.rejects(actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'approved' } }), ctx), {
      name: 'HttpError',
      message:
        'connection "github-test": POST /repos/Codertocat/Hello-World/actions/runs/9876543210/deployment_protection_rule answered 422: Validation Failed — environment_name: invalid — comment is too long (maximum is 1024 characters)',
    });
  });

  it('refuses a callback URL on another host without calling anything', async () => {
    const forged = { ...gate, data: { ...gate.data, callbackUrl: 'https://attacker.example/repos/Codertocat/Hello-World/actions/runs/9876543210/deployment_protection_rule' } };
    const ctx = await ctxWithAppAuth();
    await assert.rejects(actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: forged, params: { outcome: 'approved' } }), ctx), {
      name: 'PermanentError',
      message: "refused deployment callback URL on https://attacker.example: only the connection's API host https://api.github.com is called",
    });
  });

  it('refuses a same-host URL that is not a deployment protection rule callback', async () => {
    const forged = { ...gate, data: { ...gate.data, callbackUrl: `${GH}/repos/Codertocat/Hello-World/hooks` } };
    const ctx = await ctxWithAppAuth();
    await assert.rejects(actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: forged, params: { outcome: 'approved' } }), ctx), {
      name: 'PermanentError',
      message: 'refused deployment callback URL /repos/Codertocat/Hello-World/hooks: not a deployment protection rule callback',
    });
  });

  it('surfaces a secondary rate limit (403 with retry-after) as HttpError.retryAfterMs', async () => {
    server.use(
      tokenExchange({ n: 0 }),
      http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, () =>
        HttpResponse.json(
          { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api', status: '403' },
          { status: 403, headers: { 'retry-after': '60', 'x-ratelimit-remaining': '4000' } },
        ),
      ),
    );
    const ctx = await ctxWithAppAuth();
    await assert.rejects(actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'approved' } }), ctx), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.retryAfterMs, 60_000);
      return true;
    });
  });

  // docs.github.com "Rate limits for the REST API": a secondary limit may come as 403 or 429 with neither
  // retry-after nor x-ratelimit-remaining: 0; then "wait for at least one minute before retrying".
  const secondaryLimitWithoutRetryAfter = (status: 403 | 429) =>
    http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, () =>
      HttpResponse.json(
        { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api', status: String(status) },
        { status, headers: { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4990', 'x-ratelimit-used': '10', 'x-ratelimit-reset': '1732458600', 'x-ratelimit-resource': 'core' } },
      ),
    );
  for (const status of [403, 429] as const) {
    it(`waits at least a minute on a secondary rate limit answered ${status} without retry-after`, async () => {
      server.use(tokenExchange({ n: 0 }), secondaryLimitWithoutRetryAfter(status));
      const ctx = await ctxWithAppAuth();
      await assert.rejects(actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'approved' } }), ctx), (e: unknown) => {
        assert.ok(e instanceof HttpError);
        assert.equal(e.status, status);
        assert.equal(e.retryAfterMs, 60_000);
        return true;
      });
    });
  }

  it('treats a 403 without rate-limit signs as a final refusal', async () => {
    server.use(
      tokenExchange({ n: 0 }),
      http.get(`${GH}/repos/Codertocat/Hello-World/actions/runs/9876543210`, () =>
        HttpResponse.json({ message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run', status: '403' }, { status: 403, headers: { 'x-ratelimit-remaining': '4990' } }),
      ),
    );
    const ctx = await ctxWithAppAuth();
    await assert.rejects(actionOf(github, 'answer-gate')(actionInput('answer-gate', { link: gate, params: { outcome: 'approved' } }), ctx), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.status, 403);
      assert.equal(e.retryAfterMs, null);
      return true;
    });
  });
});

describe('github validate-package', () => {
  it('returns reviews (latest per reviewer), check runs over Link-header pages, statuses and code-scanning counts', async () => {
    const checkRun = (JSON.parse(await readFile(new URL('../fakes/payloads/github-check_run.completed.json', import.meta.url), 'utf8')) as { check_run: Record<string, unknown> }).check_run;
    server.use(
      tokenExchange({ n: 0 }),
      http.get(`${GH}/repos/Codertocat/Hello-World/pulls/2/reviews`, () =>
        HttpResponse.json([
          { id: 1, user: { login: 'octocat' }, state: 'CHANGES_REQUESTED', submitted_at: '2024-11-24T10:00:00Z' },
          { id: 2, user: { login: 'octocat' }, state: 'APPROVED', submitted_at: '2024-11-24T11:00:00Z' },
          { id: 3, user: { login: 'hubot' }, state: 'COMMENTED', submitted_at: '2024-11-24T11:30:00Z' },
        ]),
      ),
      http.get(`${GH}/repos/Codertocat/Hello-World/commits/${gate.data.sha}/check-runs`, ({ request }) => {
        const url = new URL(request.url);
        if (url.searchParams.get('page') === '2') return HttpResponse.json({ total_count: 2, check_runs: [{ name: 'e2e', status: 'in_progress', conclusion: null }] });
        const next = new URL(url);
        next.searchParams.set('page', '2');
        return HttpResponse.json({ total_count: 2, check_runs: [checkRun] }, { headers: { link: `<${next.href}>; rel="next", <${next.href}>; rel="last"` } });
      }),
      http.get(`${GH}/repos/Codertocat/Hello-World/commits/${gate.data.sha}/status`, () =>
        HttpResponse.json({ state: 'success', statuses: [{ context: 'ci/jenkins', state: 'success' }] }),
      ),
      http.get(`${GH}/repos/Codertocat/Hello-World/code-scanning/alerts`, ({ request }) => {
        assert.equal(new URL(request.url).searchParams.get('ref'), 'refs/heads/master');
        return HttpResponse.json([
          { number: 1, rule: { severity: 'error', security_severity_level: 'critical' } },
          { number: 2, rule: { severity: 'warning', security_severity_level: null } },
        ]);
      }),
    );
    const ctx = await ctxWithAppAuth();
    const result = await actionOf(github, 'validate-package')(actionInput('validate-package', { link: gate }), ctx);
    assert.deepEqual(result.result, {
      artifacts: {
        peerReviews: [
          { reviewer: 'octocat', state: 'approved', at: '2024-11-24T11:00:00Z' },
          { reviewer: 'hubot', state: 'commented', at: '2024-11-24T11:30:00Z' },
        ],
        checks: [
          { name: checkRun.name, conclusion: checkRun.conclusion },
          { name: 'e2e', conclusion: 'in_progress' },
          { name: 'ci/jenkins', conclusion: 'success' },
        ],
        combinedStatus: 'success',
        staticAnalysis: { critical: 1, high: 0, medium: 1, low: 0, summary: '2 open code-scanning alerts' },
      },
    });
  });

  // GET /commits/{ref}/status is a paged list too (per_page, default 30, max 100; Link header): statuses
  // past the first page must not be lost. The combined state is the same on every page.
  it('reads every page of the combined commit status', async () => {
    const perPage: (string | null)[] = [];
    server.use(
      tokenExchange({ n: 0 }),
      http.get(`${GH}/repos/Codertocat/Hello-World/pulls/2/reviews`, () => HttpResponse.json([])),
      http.get(`${GH}/repos/Codertocat/Hello-World/commits/${gate.data.sha}/check-runs`, () => HttpResponse.json({ total_count: 0, check_runs: [] })),
      http.get(`${GH}/repos/Codertocat/Hello-World/commits/${gate.data.sha}/status`, ({ request }) => {
        const url = new URL(request.url);
        perPage.push(url.searchParams.get('per_page'));
        const combined = { state: 'failure', sha: gate.data.sha, total_count: 2, repository: { full_name: 'Codertocat/Hello-World' } };
        if (url.searchParams.get('page') === '2') return HttpResponse.json({ ...combined, statuses: [{ context: 'security/snyk', state: 'failure' }] });
        const next = new URL(url);
        next.searchParams.set('page', '2');
        return HttpResponse.json({ ...combined, statuses: [{ context: 'ci/jenkins', state: 'success' }] }, { headers: { link: `<${next.href}>; rel="next", <${next.href}>; rel="last"` } });
      }),
      http.get(`${GH}/repos/Codertocat/Hello-World/code-scanning/alerts`, () => HttpResponse.json([])),
    );
    const ctx = await ctxWithAppAuth();
    const result = await actionOf(github, 'validate-package')(actionInput('validate-package', { link: gate }), ctx);
    const artifacts = result.result?.artifacts as Record<string, unknown>;
    assert.deepEqual(artifacts.checks, [
      { name: 'ci/jenkins', conclusion: 'success' },
      { name: 'security/snyk', conclusion: 'failure' },
    ]);
    assert.equal(artifacts.combinedStatus, 'failure');
    assert.equal(perPage[0], '100');
  });

  it('reads the package of a gate from another installation of the App with that installation\'s token', async () => {
    const seen = new Set<string | null>();
    const other = { ...gate, data: { ...gate.data, installationId: 7654321 } };
    const record = (respond: () => Response) => ({ request }: { request: Request }) => {
      seen.add(request.headers.get('authorization'));
      return respond();
    };
    server.use(
      tokenExchange({ n: 0 }),
      http.post(`${GH}/app/installations/7654321/access_tokens`, () =>
        HttpResponse.json({ token: 'ghs_other_installation', expires_at: '2099-01-01T00:00:00Z', permissions: { checks: 'read' }, repository_selection: 'selected' }, { status: 201 }),
      ),
      http.get(`${GH}/repos/Codertocat/Hello-World/pulls/2/reviews`, record(() => HttpResponse.json([]))),
      http.get(`${GH}/repos/Codertocat/Hello-World/commits/${gate.data.sha}/check-runs`, record(() => HttpResponse.json({ total_count: 0, check_runs: [] }))),
      http.get(`${GH}/repos/Codertocat/Hello-World/commits/${gate.data.sha}/status`, record(() => HttpResponse.json({ state: 'pending', statuses: [] }))),
      http.get(`${GH}/repos/Codertocat/Hello-World/code-scanning/alerts`, record(() => HttpResponse.json([]))),
    );
    const ctx = await ctxWithAppAuth();
    await actionOf(github, 'validate-package')(actionInput('validate-package', { link: other }), ctx);
    assert.deepEqual([...seen], ['token ghs_other_installation']);
  });

  /** The token exchange and a package with no reviews, check runs or statuses: the code-scanning read is the test's. */
  const packageWithoutReviewsOrChecks = () => [
    tokenExchange({ n: 0 }),
    http.get(`${GH}/repos/Codertocat/Hello-World/pulls/2/reviews`, () => HttpResponse.json([])),
    http.get(`${GH}/repos/Codertocat/Hello-World/commits/${gate.data.sha}/check-runs`, () => HttpResponse.json({ total_count: 0, check_runs: [] })),
    http.get(`${GH}/repos/Codertocat/Hello-World/commits/${gate.data.sha}/status`, () => HttpResponse.json({ state: 'pending', statuses: [] })),
  ];

  it('reports code scanning as unavailable when the repository has none (404)', async () => {
    server.use(
      ...packageWithoutReviewsOrChecks(),
      http.get(`${GH}/repos/Codertocat/Hello-World/code-scanning/alerts`, () =>
        HttpResponse.json({ message: 'no analysis found', documentation_url: 'https://docs.github.com/rest/code-scanning', status: '404' }, { status: 404 }),
      ),
    );
    const ctx = await ctxWithAppAuth();
    const result = await actionOf(github, 'validate-package')(actionInput('validate-package', { link: gate }), ctx);
    assert.deepEqual((result.result?.artifacts as Record<string, unknown>).staticAnalysis, { critical: 0, high: 0, medium: 0, low: 0, summary: 'code scanning unavailable (404)' });
  });

  // A 403 is also how GitHub says "rate limited" (retry-after, or x-ratelimit-remaining: 0): that is
  // "come back later", not "the App lacks Code scanning alerts: read", so no alerts must not be reported.
  it('comes back later when the code-scanning read is rate limited (403), instead of reporting it unavailable', async () => {
    server.use(
      ...packageWithoutReviewsOrChecks(),
      http.get(`${GH}/repos/Codertocat/Hello-World/code-scanning/alerts`, () =>
        HttpResponse.json(
          { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api', status: '403' },
          { status: 403, headers: { 'retry-after': '60', 'x-ratelimit-remaining': '4000' } },
        ),
      ),
    );
    const ctx = await ctxWithAppAuth();
    await assert.rejects(actionOf(github, 'validate-package')(actionInput('validate-package', { link: gate }), ctx), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.status, 403);
      assert.equal(e.retryAfterMs, 60_000);
      return true;
    });
  });
});

describe('github reconcile (missed deliveries)', () => {
  it('asks GitHub to redeliver failed deployment_protection_rule deliveries that never succeeded, with the App JWT', async () => {
    const redelivered: string[] = [];
    const auths: (string | null)[] = [];
    server.use(
      // The client asks the connection's auth for its installation token on every call; the /app calls override it.
      tokenExchange({ n: 0 }),
      http.get(`${GH}/app/hook/deliveries`, ({ request }) => {
        auths.push(request.headers.get('authorization'));
        return HttpResponse.json([
          { id: 5005, guid: 'guid-a', delivered_at: '2024-11-24T13:20:00Z', redelivery: true, status_code: 200, status: 'OK', event: 'deployment_protection_rule', action: 'requested' },
          { id: 5004, guid: 'guid-c', delivered_at: '2024-11-24T13:15:00Z', redelivery: false, status_code: 502, status: 'Bad Gateway', event: 'push', action: null },
          { id: 5003, guid: 'guid-b', delivered_at: '2024-11-24T13:10:00Z', redelivery: false, status_code: 0, status: 'timed out', event: 'deployment_protection_rule', action: 'requested' },
          { id: 5002, guid: 'guid-a', delivered_at: '2024-11-24T13:05:00Z', redelivery: false, status_code: 500, status: 'Internal Server Error', event: 'deployment_protection_rule', action: 'requested' },
          { id: 5001, guid: 'guid-old', delivered_at: '2024-11-24T12:00:00Z', redelivery: false, status_code: 500, status: 'Internal Server Error', event: 'deployment_protection_rule', action: 'requested' },
        ]);
      }),
      http.post(`${GH}/app/hook/deliveries/:id/attempts`, ({ params, request }) => {
        auths.push(request.headers.get('authorization'));
        redelivered.push(String(params.id));
        return HttpResponse.json({}, { status: 202 });
      }),
    );
    const ctx = await ctxWithAppAuth(conn, '2024-11-24T13:00:00Z');
    const pages = await allPages(github.reconcile!(ctx));
    assert.deepEqual(redelivered, ['5003']);
    assert.equal(jwtClaims(auths[0]!).iss, '123456');
    assert.equal(auths[1], auths[0]);
    assert.deepEqual(pages.flatMap((p) => p.events), []);
    assert.equal(pages.at(-1)!.cursor, '2024-11-24T13:20:00Z');
  });
});

describe('github reconcile: a redelivery GitHub refuses', () => {
  // POST /app/hook/deliveries/{id}/attempts answers 422 ("Validation failed, or the endpoint has been
  // spammed") or 400 for a delivery it will not redeliver. The run must go on to the other deliveries and
  // move its cursor: the cursor stays put while a run fails, so the next run would hit the same refusal.
  it('skips a delivery whose redelivery is refused (422), asks for the others and moves the cursor on', async () => {
    const asked: string[] = [];
    server.use(
      tokenExchange({ n: 0 }),
      http.get(`${GH}/app/hook/deliveries`, () =>
        HttpResponse.json([
          { id: 6002, guid: 'guid-y', delivered_at: '2024-11-24T13:20:00Z', redelivery: false, status_code: 502, status: 'Bad Gateway', event: 'deployment_protection_rule', action: 'requested' },
          { id: 6001, guid: 'guid-x', delivered_at: '2024-11-24T13:10:00Z', redelivery: false, status_code: 500, status: 'Internal Server Error', event: 'deployment_protection_rule', action: 'requested' },
        ]),
      ),
      http.post(`${GH}/app/hook/deliveries/:id/attempts`, ({ params }) => {
        asked.push(String(params.id));
        if (params.id === '6002') {
          return HttpResponse.json({ message: 'Validation Failed', errors: [{ resource: 'HookDelivery', code: 'custom', message: 'delivery cannot be redelivered' }], documentation_url: 'https://docs.github.com/rest/apps/webhooks#redeliver-a-delivery-for-an-app-webhook', status: '422' }, { status: 422 });
        }
        return HttpResponse.json({}, { status: 202 });
      }),
    );
    const ctx = await ctxWithAppAuth(conn, '2024-11-24T13:00:00Z');
    const pages = await allPages(github.reconcile!(ctx));
    assert.deepEqual(asked, ['6002', '6001']);
    assert.equal(pages.at(-1)!.cursor, '2024-11-24T13:20:00Z');
    assert.ok(ctx.log.entries.some((e) => e.level === 'warn' && JSON.stringify(e).includes('guid-y')));
  });
});

describe('github jira key detection', async () => {
  const { jiraKeys } = await import('../../connectors/github/parse.ts');
  it('finds keys in branch names and titles in order, once each', () => {
    assert.deepEqual(jiraKeys(['feature/CHG-42-retry', 'CHG-42 and OPS-7: retry', null], null), ['CHG-42', 'OPS-7']);
  });
  it('does not take a key out of a longer token', () => {
    assert.deepEqual(jiraKeys(['xCHG-42', 'CHG-4210'], null), ['CHG-4210']);
  });
  it('keeps only configured projects, so UTF-8 or SHA-256 are not issues', () => {
    assert.deepEqual(jiraKeys(['CHG-9: UTF-8 names, SHA-256 sums'], ['CHG']), ['CHG-9']);
    assert.deepEqual(jiraKeys(['CHG-9: UTF-8 names, SHA-256 sums'], null), ['CHG-9', 'UTF-8', 'SHA-256']);
  });
});
