// The health checks `approval-hub connections test` runs for the PagerDuty, GitLab and Azure DevOps
// connections, against msw: accepted credentials, refused ones (as each vendor refuses them) and a
// baseUrl that answers but is not the vendor's API.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import azureDevOps from '../../connectors/azure-devops/index.ts';
import gitlab from '../../connectors/gitlab/index.ts';
import pagerduty from '../../connectors/pagerduty/index.ts';
import { HttpError } from '../../src/sdk/index.ts';
import { actionContext } from './support/context.ts';
import { connectionFor } from './support/fixtures.ts';

const server = setupServer();
before(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
after(() => server.close());

describe('PagerDuty health', () => {
  const conn = connectionFor('pagerduty', { baseUrl: 'https://api.pagerduty.com', auth: { type: 'header', header: 'Authorization', value: 'Token token=y_NbAkKc66ryYTWUXYEu' } });

  it('reads the abilities with the API key and the v2 Accept header', async () => {
    server.use(http.get('https://api.pagerduty.com/abilities', ({ request }) => {
      if (request.headers.get('authorization') !== 'Token token=y_NbAkKc66ryYTWUXYEu') return HttpResponse.json({ error: { message: 'Unauthorized', code: 2006 } }, { status: 401 });
      assert.equal(request.headers.get('accept'), 'application/vnd.pagerduty+json;version=2');
      return HttpResponse.json({ abilities: ['sso', 'advanced_reports', 'teams'] });
    }));
    assert.deepEqual(await pagerduty.health!(await actionContext(pagerduty, conn)), { ok: true, detail: 'REST API key accepted (3 abilities)' });
  });

  it('a refused key surfaces as the 401 it is', async () => {
    server.use(http.get('https://api.pagerduty.com/abilities', () => HttpResponse.json({ error: { message: 'Unauthorized', code: 2006 } }, { status: 401 })));
    await assert.rejects(pagerduty.health!(await actionContext(pagerduty, conn)), (err: unknown) => err instanceof HttpError && err.status === 401);
  });

  it("a host that is not PagerDuty's API is named", async () => {
    server.use(http.get('https://api.pagerduty.com/abilities', () => HttpResponse.text('<html>proxy</html>')));
    const r = await pagerduty.health!(await actionContext(pagerduty, conn));
    assert.equal(r.ok, false);
    assert.match(r.detail, /not as PagerDuty's REST API/);
  });
});

describe('GitLab health', () => {
  const conn = connectionFor('gitlab', { baseUrl: 'https://gitlab.example.com', auth: { type: 'header', header: 'PRIVATE-TOKEN', value: 'glpat-hub' } });

  it('reads the version with the token', async () => {
    server.use(http.get('https://gitlab.example.com/api/v4/version', ({ request }) =>
      request.headers.get('private-token') === 'glpat-hub' ? HttpResponse.json({ version: '17.5.1-ee', revision: 'a1b2c3d' }) : HttpResponse.json({ message: '401 Unauthorized' }, { status: 401 })));
    assert.deepEqual(await gitlab.health!(await actionContext(gitlab, conn)), { ok: true, detail: 'token accepted by GitLab 17.5.1-ee' });
  });

  it('a revoked token surfaces as the 401 it is', async () => {
    server.use(http.get('https://gitlab.example.com/api/v4/version', () => HttpResponse.json({ message: '401 Unauthorized' }, { status: 401 })));
    await assert.rejects(gitlab.health!(await actionContext(gitlab, conn)), (err: unknown) => err instanceof HttpError && err.status === 401);
  });
});

describe('Azure DevOps health', () => {
  const base = 'https://dev.azure.com/acme/payments';
  const conn = connectionFor('azure-devops', { baseUrl: base, auth: { type: 'basic', username: '', password: 'ado-pat' } });

  it('lists one pipeline of the project with the PAT and an api-version', async () => {
    server.use(http.get(`${base}/_apis/pipelines`, ({ request }) => {
      assert.equal(new URL(request.url).searchParams.get('api-version'), '7.1');
      assert.equal(request.headers.get('authorization'), `Basic ${Buffer.from(':ado-pat').toString('base64')}`);
      return HttpResponse.json({ count: 1, value: [{ id: 7, name: 'payments-api', folder: '\\' }] });
    }));
    assert.deepEqual(await azureDevOps.health!(await actionContext(azureDevOps, conn)), { ok: true, detail: 'PAT accepted by the Pipelines API' });
  });

  it('a PAT answered with a 203 sign-in page is refused, not taken as healthy', async () => {
    server.use(http.get(`${base}/_apis/pipelines`, () => new HttpResponse('<html><body>Sign in</body></html>', { status: 203, headers: { 'content-type': 'text/html' } })));
    await assert.rejects(azureDevOps.health!(await actionContext(azureDevOps, conn)), (err: unknown) => err instanceof HttpError && err.status === 401 && /203 with a sign-in page/.test(err.message));
  });

  it('a PAT without permission is refused as the 403 it is, even while Azure DevOps is delaying its calls', async () => {
    // Azure DevOps adds X-RateLimit-Delay ("how long the request was delayed", seconds) to any response
    // while it slows a caller down: it says nothing about when to retry. Only 429 + Retry-After blocks.
    let calls = 0;
    server.use(http.get(`${base}/_apis/pipelines`, () => {
      calls++;
      return HttpResponse.json(
        { $id: '1', innerException: null, message: 'Access denied: the caller needs the View build pipeline permission.', typeName: 'Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, Microsoft.TeamFoundation.Framework.Server', typeKey: 'UnauthorizedRequestException', errorCode: 0, eventId: 3000 },
        { status: 403, headers: { 'x-ratelimit-resource': 'ATCPU', 'x-ratelimit-delay': '0.5', 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '4', 'x-ratelimit-reset': '1732454700' } },
      );
    }));
    await assert.rejects(azureDevOps.health!(await actionContext(azureDevOps, conn)), (err: unknown) => err instanceof HttpError && err.status === 403 && err.retryAfterMs === null);
    assert.equal(calls, 1);
  });

  it('a baseUrl without the project is named', async () => {
    server.use(http.get(`${base}/_apis/pipelines`, () => HttpResponse.json({ $id: '1', message: 'The resource cannot be found.' })));
    const r = await azureDevOps.health!(await actionContext(azureDevOps, conn));
    assert.equal(r.ok, false);
    assert.match(r.detail, /check baseUrl is https:\/\/dev\.azure\.com\/<org>\/<project>/);
  });
});
