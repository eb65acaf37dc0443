// The per-connection registry: one client (and so one token cache, breaker and limiter) per connection.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { createOutbound } from '../../../src/http-client/index.ts';
import { connection, fakeClock, memoryLog, secret, vendors } from './support.ts';

const SN = 'https://acme.service-now.example';
const server = setupServer();
before(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
after(() => server.close());

describe('outbound registry', () => {
  it('keeps one client per connection, so an OAuth token is fetched once across jobs', async () => {
    let tokens = 0;
    server.use(
      http.post(`${SN}/oauth_token.do`, () => HttpResponse.json({ access_token: `t${++tokens}`, expires_in: 1800 })),
      http.get(`${SN}/api/now/table/change_request`, () => HttpResponse.json({ result: [] })),
    );
    const clock = fakeClock();
    const outbound = createOutbound({ log: memoryLog().log, now: clock.now, sleep: clock.sleep });
    const conn = connection({ auth: { type: 'oauth', clientId: 'c', clientSecret: secret('s') } });
    await outbound.client(conn, vendors.servicenow).request({ method: 'GET', path: '/api/now/table/change_request' });
    await outbound.client(conn, vendors.servicenow).request({ method: 'GET', path: '/api/now/table/change_request' });
    assert.equal(tokens, 1);
    await outbound.forget(conn.id);
    await outbound.client(conn, vendors.servicenow).request({ method: 'GET', path: '/api/now/table/change_request' });
    assert.equal(tokens, 2);
    await outbound.close();
  });

  it('reports each connection’s breaker state for health and the connections API', async () => {
    server.use(
      http.get(`${SN}/down`, () => HttpResponse.json({ error: { message: 'Bad Gateway' } }, { status: 502 })),
      http.get('https://jira.example/rest/api/3/myself', () => HttpResponse.json({ accountId: 'x' })),
    );
    const clock = fakeClock();
    const outbound = createOutbound({ log: memoryLog().log, now: clock.now, sleep: clock.sleep, retry: { retries: 0, minMs: 0, maxMs: 0 }, breaker: { failureThreshold: 2, openMs: 60_000 } });
    const sn = outbound.client(connection(), vendors.servicenow);
    const jira = outbound.client(connection({ id: 'jira-cloud', baseUrl: 'https://jira.example', auth: { type: 'basic', username: 'hub@acme.example', password: secret('t') } }), vendors.jira);
    await jira.request({ method: 'GET', path: '/rest/api/3/myself' });
    for (let i = 0; i < 2; i++) await sn.request({ method: 'GET', path: '/down' }).catch(() => undefined);
    const snaps = outbound.snapshots();
    assert.equal(snaps['servicenow-prod']!.state, 'open');
    assert.equal(snaps['servicenow-prod']!.retryInMs, 60_000);
    assert.match(snaps['servicenow-prod']!.lastError!, /^502 Bad Gateway$/);
    assert.equal(snaps['jira-cloud']!.state, 'closed');
    await outbound.close();
  });
});
