// The client's request path against msw: JSON, headers, auth, vendor error messages, SSRF guard.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { http, HttpResponse, type JsonBodyType } from 'msw';
import { setupServer } from 'msw/node';
import { HttpError } from '../../../src/sdk/index.ts';
import { AuthConfigError, createCircuitBreaker, RefusedUrlError } from '../../../src/http-client/index.ts';
import { clientFor, connection, rejection, secret, vendors } from './support.ts';

const SN = 'https://acme.service-now.example';
const server = setupServer();
before(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
after(() => server.close());

describe('request encoding', () => {
  it('sends Accept: application/json, JSON body with content-type on writes, and returns the parsed body', async () => {
    let seen: { accept: string | null; contentType: string | null; body: unknown; query: string } | null = null;
    server.use(
      http.post(`${SN}/api/now/table/change_request`, async ({ request }) => {
        seen = {
          accept: request.headers.get('accept'),
          contentType: request.headers.get('content-type'),
          body: await request.json(),
          query: new URL(request.url).search,
        };
        return HttpResponse.json({ result: { sys_id: 'a'.repeat(32), number: 'CHG0030012' } }, { status: 201 });
      }),
    );
    const { client } = clientFor();
    const res = await client.request({
      method: 'POST',
      path: '/api/now/table/change_request',
      query: { sysparm_fields: 'sys_id,number', sysparm_display_value: false, skipped: undefined },
      body: { short_description: 'Deploy payments v2', type: 'normal' },
    });
    assert.equal(res.status, 201);
    assert.deepEqual(res.body, { result: { sys_id: 'a'.repeat(32), number: 'CHG0030012' } });
    assert.deepEqual(seen, {
      accept: 'application/json',
      contentType: 'application/json',
      body: { short_description: 'Deploy payments v2', type: 'normal' },
      query: '?sysparm_fields=sys_id%2Cnumber&sysparm_display_value=false',
    });
  });

  it('returns a 204 as a null body and lets the caller override Accept', async () => {
    let accept: string | null = null;
    server.use(
      http.post('https://api.github.example/repos/acme/pay/actions/runs/42/deployment_protection_rule', ({ request }) => {
        accept = request.headers.get('accept');
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const { client } = clientFor({
      connection: connection({ id: 'github', baseUrl: 'https://api.github.example', auth: { type: 'bearer', token: secret('ghs_x') } }),
      vendor: vendors.github,
    });
    const res = await client.request({
      method: 'POST',
      path: '/repos/acme/pay/actions/runs/42/deployment_protection_rule',
      headers: { Accept: 'application/vnd.github+json' },
      body: { environment_name: 'production', state: 'approved' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.body, null);
    assert.equal(accept, 'application/vnd.github+json');
  });

  it('keeps a baseUrl path prefix (Azure DevOps org/project) when joining paths', async () => {
    let path = '';
    server.use(
      http.get('https://dev.azure.example/acme/payments/_apis/pipelines/approvals', ({ request }) => {
        path = new URL(request.url).pathname;
        return HttpResponse.json({ count: 0, value: [] });
      }),
    );
    const { client } = clientFor({
      connection: connection({ id: 'ado', baseUrl: 'https://dev.azure.example/acme/payments/', auth: { type: 'basic', username: '', password: secret('pat') } }),
      vendor: vendors.ado,
    });
    await client.request({ method: 'GET', path: '/_apis/pipelines/approvals', query: { 'api-version': '7.1' } });
    assert.equal(path, '/acme/payments/_apis/pipelines/approvals');
  });
});

describe('SSRF guard', () => {
  it('calls an absolute URL on the connection host (e.g. a Link header or callback URL)', async () => {
    server.use(http.get(`${SN}/api/now/table/change_request`, () => HttpResponse.json({ result: [] })));
    const { client } = clientFor();
    const res = await client.request({ method: 'GET', path: `${SN}/api/now/table/change_request?sysparm_offset=100` });
    assert.equal(res.status, 200);
  });

  it('refuses an absolute URL on another host, before sending anything', async () => {
    const { client } = clientFor();
    const err = await rejection(client.request({ method: 'POST', path: 'https://evil.example/steal', body: { a: 1 } }));
    assert.ok(err instanceof RefusedUrlError);
    assert.match(err.message, /refused to call https:\/\/evil\.example because it is not the connection's host https:\/\/acme\.service-now\.example/);
  });

  it('refuses a baseUrl that carries credentials, without repeating them', async () => {
    // e.g. a git-style https://oauth2:<token>@gitlab... pasted as the API base: fetch refuses such a URL
    // with a message that quotes it whole, which would put the token in the job ledger and health.
    const breaker = createCircuitBreaker();
    const { client } = clientFor({ breaker, connection: connection({ baseUrl: 'https://oauth2:glpat-s3cr3t@gitlab.example' }) });
    const err = await rejection(client.request({ method: 'GET', path: '/api/v4/projects/8/deployments' }));
    assert.ok(err instanceof RefusedUrlError, String(err));
    assert.match(err.message, /baseUrl has a user name or password in it/);
    const everything = `${err.message} ${err.stack} ${JSON.stringify(breaker.snapshot())}`;
    assert.ok(!everything.includes('glpat-s3cr3t'), everything);
  });

  it('refuses the same host on another port or scheme, and user-info tricks', async () => {
    const { client } = clientFor();
    for (const path of [`${SN}:8443/x`, 'http://acme.service-now.example/x', 'https://acme.service-now.example@evil.example/x', '//evil.example/x']) {
      const err = await rejection(client.request({ method: 'GET', path }));
      assert.ok(err instanceof RefusedUrlError, path);
    }
  });
});

describe('auth headers', () => {
  it('sends Basic base64(user:password) from Secret values', async () => {
    let authz: string | null = null;
    server.use(
      http.get(`${SN}/api/now/table/change_request/abc`, ({ request }) => {
        authz = request.headers.get('authorization');
        return HttpResponse.json({ result: {} });
      }),
    );
    const { client } = clientFor();
    await client.request({ method: 'GET', path: '/api/now/table/change_request/abc' });
    assert.equal(authz, `Basic ${Buffer.from('hub.integration:s3cr3t-Pa55').toString('base64')}`);
  });

  it('sends Bearer tokens and custom vendor headers (PagerDuty "Token token=")', async () => {
    const got: (string | null)[] = [];
    server.use(
      http.get('https://api.pagerduty.example/incidents/P1', ({ request }) => {
        got.push(request.headers.get('authorization'));
        return HttpResponse.json({ incident: { id: 'P1' } });
      }),
    );
    const bearer = clientFor({ connection: connection({ baseUrl: 'https://api.pagerduty.example', auth: { type: 'bearer', token: secret('tok-1') } }) });
    const header = clientFor({
      connection: connection({ baseUrl: 'https://api.pagerduty.example', auth: { type: 'header', header: 'Authorization', value: secret('Token token=pd-key') } }),
    });
    await bearer.client.request({ method: 'GET', path: '/incidents/P1' });
    await header.client.request({ method: 'GET', path: '/incidents/P1' });
    assert.deepEqual(got, ['Bearer tok-1', 'Token token=pd-key']);
  });

  it('uses connector-provided auth headers (GitHub App installation token)', async () => {
    let authz: string | null = null;
    server.use(
      http.get('https://api.github.example/repos/acme/pay/pulls/7/reviews', ({ request }) => {
        authz = request.headers.get('authorization');
        return HttpResponse.json([]);
      }),
    );
    const { client } = clientFor({
      connection: connection({ id: 'github', baseUrl: 'https://api.github.example', auth: { type: 'github-app', appId: 1, installationId: 2 } }),
      vendor: vendors.github,
      authHeaders: async () => ({ authorization: 'Bearer ghs_installation' }),
    });
    await client.request({ method: 'GET', path: '/repos/acme/pay/pulls/7/reviews' });
    assert.equal(authz, 'Bearer ghs_installation');
  });

  it('refuses github-app auth without a connector auth provider, and unknown auth types, naming the field', () => {
    assert.throws(
      () => clientFor({ connection: connection({ id: 'github', auth: { type: 'github-app', appId: 1 } }) }),
      (e: Error) => e instanceof AuthConfigError && /connection "github": auth type "github-app" needs the connector to provide authHeaders/.test(e.message),
    );
    assert.throws(
      () => clientFor({ connection: connection({ auth: { type: 'kerberos' } }) }),
      (e: Error) => e instanceof AuthConfigError && /auth.type "kerberos" is not one of/.test(e.message),
    );
    assert.throws(
      () => clientFor({ connection: connection({ auth: { type: 'basic', username: 'u' } }) }),
      (e: Error) => e instanceof AuthConfigError && /auth.password is required for auth type "basic"/.test(e.message),
    );
  });
});

describe('ServiceNow OAuth', () => {
  const oauthConn = () =>
    connection({
      auth: { type: 'oauth', clientId: 'hub-client', clientSecret: secret('client-S3cret'), refreshToken: secret('refresh-1') },
    });

  it('gets a token from POST /oauth_token.do (form-encoded) and caches it until it expires', async () => {
    const tokenForms: Record<string, string>[] = [];
    const apiAuth: (string | null)[] = [];
    server.use(
      http.post(`${SN}/oauth_token.do`, async ({ request }) => {
        assert.equal(request.headers.get('content-type'), 'application/x-www-form-urlencoded');
        tokenForms.push(Object.fromEntries(new URLSearchParams(await request.text())));
        const n = tokenForms.length;
        return HttpResponse.json({ access_token: `access-${n}`, refresh_token: `refresh-${n + 1}`, token_type: 'Bearer', expires_in: 1800 });
      }),
      http.get(`${SN}/api/now/table/change_request`, ({ request }) => {
        apiAuth.push(request.headers.get('authorization'));
        return HttpResponse.json({ result: [] });
      }),
    );
    const { client, clock } = clientFor({ connection: oauthConn() });
    await client.request({ method: 'GET', path: '/api/now/table/change_request' });
    await client.request({ method: 'GET', path: '/api/now/table/change_request' });
    clock.t += 1800 * 1000; // past expiry
    await client.request({ method: 'GET', path: '/api/now/table/change_request' });
    assert.deepEqual(apiAuth, ['Bearer access-1', 'Bearer access-1', 'Bearer access-2']);
    assert.deepEqual(tokenForms, [
      { client_id: 'hub-client', client_secret: 'client-S3cret', grant_type: 'refresh_token', refresh_token: 'refresh-1' },
      // The refresh token the vendor rotated in is the one used next.
      { client_id: 'hub-client', client_secret: 'client-S3cret', grant_type: 'refresh_token', refresh_token: 'refresh-2' },
    ]);
  });

  it('uses client_credentials when no refresh token or user is configured, and keeps caches per client', async () => {
    const grants: string[] = [];
    server.use(
      http.post(`${SN}/oauth_token.do`, async ({ request }) => {
        grants.push(new URLSearchParams(await request.text()).get('grant_type') ?? '');
        return HttpResponse.json({ access_token: 'a', expires_in: 1800 });
      }),
      http.get(`${SN}/api/now/table/sys_user`, () => HttpResponse.json({ result: [] })),
    );
    const conn = connection({ auth: { type: 'oauth', clientId: 'c', clientSecret: secret('s') } });
    await clientFor({ connection: conn }).client.request({ method: 'GET', path: '/api/now/table/sys_user' });
    await clientFor({ connection: conn }).client.request({ method: 'GET', path: '/api/now/table/sys_user' });
    assert.deepEqual(grants, ['client_credentials', 'client_credentials']);
  });

  it('fetches a fresh token once when the API answers 401 to a cached one', async () => {
    let tokens = 0;
    const apiAuth: (string | null)[] = [];
    server.use(
      http.post(`${SN}/oauth_token.do`, () => HttpResponse.json({ access_token: `access-${++tokens}`, expires_in: 1800 })),
      http.get(`${SN}/api/now/table/change_request`, ({ request }) => {
        const a = request.headers.get('authorization');
        apiAuth.push(a);
        if (a === 'Bearer access-1') {
          return HttpResponse.json({ error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' }, status: 'failure' }, { status: 401 });
        }
        return HttpResponse.json({ result: [] });
      }),
    );
    const { client } = clientFor({ connection: oauthConn() });
    const res = await client.request({ method: 'GET', path: '/api/now/table/change_request' });
    assert.equal(res.status, 200);
    assert.deepEqual(apiAuth, ['Bearer access-1', 'Bearer access-2']);
  });

  it('retries when the token endpoint is down, then uses the token', async () => {
    let attempts = 0;
    server.use(
      http.post(`${SN}/oauth_token.do`, () => (++attempts === 1 ? HttpResponse.json({ error: 'temporarily_unavailable' }, { status: 503 }) : HttpResponse.json({ access_token: 'fresh', expires_in: 1800 }))),
      http.get(`${SN}/api/now/table/change_request`, ({ request }) => HttpResponse.json({ result: request.headers.get('authorization') })),
    );
    const { client } = clientFor({ connection: oauthConn() });
    const res = await client.request({ method: 'GET', path: '/api/now/table/change_request' });
    assert.deepEqual(res.body, { result: 'Bearer fresh' });
    assert.equal(attempts, 2);
  });

  it('reports a refused token request without the client secret or refresh token', async () => {
    server.use(
      http.post(`${SN}/oauth_token.do`, async ({ request }) =>
        HttpResponse.json({ error: 'invalid_client', echoed: await request.text() }, { status: 401 }),
      ),
    );
    const { client } = clientFor({ connection: oauthConn() });
    const err = await rejection(client.request({ method: 'GET', path: '/api/now/table/change_request' }));
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 401);
    assert.match(err.message, /OAuth token request was refused \(401: invalid_client\); check auth\.clientId, auth\.clientSecret and the grant's auth\.refreshToken/);
    const everything = `${err.message} ${JSON.stringify(err.body)} ${err.stack}`;
    assert.ok(!everything.includes('client-S3cret') && !everything.includes('refresh-1'));
  });
});

describe('a token endpoint answering 2xx without a token', () => {
  it('says what answered and what to check, not that the request was refused', async () => {
    server.use(http.post(`${SN}/oauth_token.do`, () => HttpResponse.json({}, { status: 200 })));
    const { client } = clientFor({ connection: connection({ baseUrl: SN, auth: { type: 'oauth', clientId: 'c', clientSecret: secret('s') } }) });
    const err = await rejection(client.request({ method: 'GET', path: '/api/now/table/change_request' }));
    assert.ok(err instanceof HttpError);
    assert.match(err.message, /POST https:\/\/.*\/oauth_token\.do answered 200 without an access_token; is it the instance's OAuth token endpoint/);
  });
});

describe('vendor error messages', () => {
  const cases: { vendor: string; status: number; body: JsonBodyType; expect: string }[] = [
    {
      vendor: 'ServiceNow',
      status: 404,
      body: { error: { message: 'No Record found', detail: "Record doesn't exist or ACL restricts the record retrieval" }, status: 'failure' },
      expect: "answered 404: No Record found — Record doesn't exist or ACL restricts the record retrieval",
    },
    {
      vendor: 'Jira',
      status: 400,
      body: { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: { summary: 'Summary is required.' } },
      expect: 'answered 400: Issue does not exist or you do not have permission to see it. — summary: Summary is required.',
    },
    {
      // servicedeskapi's ErrorResponse (jira.js serviceDesk models): no errorMessages array, one errorMessage.
      vendor: 'Jira Service Management',
      status: 403,
      body: { errorMessage: 'You are not an approver for this request.', i18nErrorMessage: { i18nKey: 'sd.approval.error.not.approver', parameters: [] } },
      expect: 'answered 403: You are not an approver for this request.',
    },
    {
      vendor: 'GitHub',
      status: 422,
      body: { message: 'Validation Failed', documentation_url: 'https://docs.github.com/rest', status: '422' },
      expect: 'answered 422: Validation Failed',
    },
    {
      vendor: 'SCIM',
      status: 400,
      body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '400', scimType: 'invalidFilter', detail: 'Request is unparsable' },
      expect: 'answered 400: Request is unparsable',
    },
  ];
  for (const c of cases) {
    it(`extracts ${c.vendor}'s message into a final HttpError, without retrying a ${c.status}`, async () => {
      let calls = 0;
      server.use(
        http.get(`${SN}/thing`, () => {
          calls++;
          return HttpResponse.json(c.body, { status: c.status });
        }),
      );
      const { client } = clientFor();
      const err = await rejection(client.request({ method: 'GET', path: '/thing' }));
      assert.ok(err instanceof HttpError);
      assert.equal(err.status, c.status);
      assert.deepEqual(err.body, c.body);
      assert.equal(err.retryAfterMs, null);
      assert.equal(err.message, `connection "servicenow-prod": GET /thing ${c.expect}`);
      assert.equal(calls, 1);
    });
  }

  it('never puts credentials in error messages, even for 401s and network failures', async () => {
    server.use(
      http.get(`${SN}/denied`, () => HttpResponse.json({ error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' } }, { status: 401 })),
      http.get(`${SN}/down`, () => HttpResponse.error()),
    );
    const { client } = clientFor({ retry: { retries: 1, minMs: 0, maxMs: 0 } });
    const denied = await rejection(client.request({ method: 'GET', path: '/denied' }));
    const down = await rejection(client.request({ method: 'GET', path: '/down' }));
    assert.equal((down as unknown as HttpError).status, 0);
    assert.match(down.message, /GET \/down got no response/);
    const b64 = Buffer.from('hub.integration:s3cr3t-Pa55').toString('base64');
    for (const err of [denied, down]) {
      const everything = `${err.message} ${JSON.stringify(err)} ${err.stack}`;
      assert.ok(!everything.includes('s3cr3t-Pa55') && !everything.includes(b64), err.message);
    }
  });

  it('treats an Azure DevOps 203 sign-in page as refused credentials (401), not success', async () => {
    let calls = 0;
    server.use(
      http.get(`${SN}/_apis/projects`, () => {
        calls++;
        return HttpResponse.html('<html>Sign in</html>', { status: 203 });
      }),
    );
    const { client } = clientFor();
    const err = await rejection(client.request({ method: 'GET', path: '/_apis/projects' }));
    assert.ok(err instanceof HttpError);
    // 401, like any refused credential: the queue fails the job for good and the connection test says
    // "credentials refused", where a 203 (a 2xx, not a 4xx) would be retried as if the vendor were down.
    assert.equal(err.status, 401);
    assert.match(err.message, /answered 203 with a sign-in page: the credentials were not accepted/);
    assert.equal(calls, 1);
  });
});
