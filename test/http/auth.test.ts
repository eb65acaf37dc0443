// Bearer tokens and roles. The matrix walks every /api/v1 route the hub serves (the pipeline's
// included) with a token of each role, so a route added later is covered the day it lands.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyPluginAsync } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { registeredRoutes, ROLES } from '../../src/http/plugins/auth.ts';
import type { Role } from '../../src/store/port.ts';
import { testHub, type TestHub } from './helpers.ts';

describe('bearer tokens', () => {
  let hub: TestHub;
  before(async () => { hub = await testHub(); });
  after(() => hub.close());

  const get = (headers: Record<string, string> = {}) => hub.app.inject({ method: 'GET', url: '/api/v1/changes', headers });

  test('no Authorization header: 401 with WWW-Authenticate', async () => {
    const res = await get();
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="approval-hub"');
    assert.equal(JSON.parse(res.body).code, 'unauthorized');
  });

  test('the HEAD route Fastify adds for each GET is guarded the same way', async () => {
    assert.equal((await hub.app.inject({ method: 'HEAD', url: '/api/v1/changes' })).statusCode, 401);
  });

  test('a header that is not "Bearer <token>": 401', async () => {
    const res = await get({ authorization: 'Basic dXNlcjpwYXNz' });
    assert.equal(res.statusCode, 401);
    assert.match(JSON.parse(res.body).detail, /must be "Bearer <token>"/);
  });

  test('an unknown token: 401 invalid_token', async () => {
    const res = await get({ authorization: 'Bearer ah_not-a-token-this-hub-issued' });
    assert.equal(res.statusCode, 401);
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
    assert.equal(JSON.parse(res.body).code, 'invalid-token');
  });

  test('a revoked token: 401 saying it was revoked', async () => {
    const token = await hub.token(['viewer'], 'dashboard');
    assert.equal((await get({ authorization: `Bearer ${token}` })).statusCode, 200);
    assert.equal(await hub.store.tokens.revoke('dashboard'), true);
    const res = await get({ authorization: `Bearer ${token}` });
    assert.equal(res.statusCode, 401);
    assert.equal(JSON.parse(res.body).code, 'token-revoked');
    assert.match(String(res.headers['www-authenticate']), /revoked/);
  });

  test('a token without a role the route allows: 403 naming the roles', async () => {
    const token = await hub.token(['integration'], 'ci');
    const res = await get({ authorization: `Bearer ${token}` });
    assert.equal(res.statusCode, 403);
    const p = JSON.parse(res.body);
    assert.equal(p.code, 'forbidden');
    assert.match(p.detail, /needs one of the roles viewer, approver, admin, auditor; the token "ci" has integration/);
  });

  test('tokens are stored as SHA-256 hashes, never as the secret', async () => {
    const token = await hub.token(['viewer'], 'hashed');
    const stored = (await hub.store.tokens.list()).find((t) => t.name === 'hashed')!;
    assert.match(stored.hash, /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(stored).includes(token));
  });

  test('the authenticated token is on the request as its principal', async () => {
    const whoami: FastifyPluginAsync = async (app) => {
      app.get('/api/v1/test-whoami', { config: { roles: ['approver'] } }, async (request) => request.principal ?? null);
    };
    const h = await testHub({ routes: [whoami] });
    try {
      const token = await h.token(['approver'], 'alice-token');
      const res = await h.app.inject({ url: '/api/v1/test-whoami', headers: { authorization: `bearer ${token}` } });
      assert.equal(res.statusCode, 200);
      assert.deepEqual({ ...JSON.parse(res.body), tokenId: 'x' }, { tokenId: 'x', name: 'alice-token', actor: 'alice-token', roles: ['approver'] });
    } finally {
      await h.close();
    }
  });
});

test('an /api/v1 route that declares no roles stops the app at boot', async () => {
  const hub = await testHub();
  try {
    const careless: FastifyPluginAsync = async (app) => {
      app.get('/api/v1/oops', async () => ({ open: true }));
    };
    await assert.rejects(
      buildApp({ config: hub.config, store: hub.store, queue: hub.queue, log: hub.app.log as never, routes: [careless] }),
      /route GET \/api\/v1\/oops declares no roles/,
    );
  } finally {
    await hub.close();
  }
});

// The roles each route is meant to have. A route missing here fails the test: decide its roles, add it.
const READERS: Role[] = ['viewer', 'approver', 'admin', 'auditor'];
const intended: Record<string, Role[]> = {
  'GET /api/v1/changes': READERS,
  'GET /api/v1/changes/:id': READERS,
  'GET /api/v1/changes/:id/transitions': READERS,
  'GET /api/v1/audit/verify': ['auditor', 'admin'],
  'GET /api/v1/connections': READERS,
};

describe('every /api/v1 route × every role', () => {
  let hub: TestHub;
  const tokens = new Map<Role, string>();
  before(async () => {
    hub = await testHub({ pipeline: true });
    for (const role of ROLES) tokens.set(role, await hub.token([role], `only-${role}`));
  });
  after(() => hub.close());

  test('the hub serves the routes this test knows, and more from the pipeline', () => {
    const api = registeredRoutes(hub.app).filter((r) => r.url.startsWith('/api/v1'));
    for (const key of Object.keys(intended)) assert.ok(api.some((r) => `${r.method} ${r.url}` === key), `${key} is served`);
    assert.ok(api.length > Object.keys(intended).length, 'the pipeline adds routes (decisions, gates, conflicts, ...)');
  });

  test('each route declares roles and enforces exactly them', async () => {
    const api = registeredRoutes(hub.app).filter((r) => r.url.startsWith('/api/v1'));
    for (const route of api) {
      const key = `${route.method} ${route.url}`;
      assert.ok(route.roles && route.roles.length > 0, `${key} declares roles`);
      if (intended[key]) assert.deepEqual([...route.roles].sort(), [...intended[key]].sort(), `${key} has its intended roles`);
      const url = route.url.replace(/:[A-Za-z]+/g, 'does-not-exist');
      for (const role of ROLES) {
        const res = await hub.app.inject({
          method: route.method as 'GET',
          url,
          headers: { authorization: `Bearer ${tokens.get(role)}`, ...(route.method === 'GET' ? {} : { 'content-type': 'application/json' }) },
          ...(route.method === 'GET' ? {} : { payload: '{}' }),
        });
        const allowed = route.roles.includes(role);
        if (allowed) assert.ok(res.statusCode !== 401 && res.statusCode !== 403, `${key} lets ${role} in (got ${res.statusCode} ${res.body})`);
        else assert.equal(res.statusCode, 403, `${key} refuses ${role} (got ${res.statusCode} ${res.body})`);
      }
      const anonymous = await hub.app.inject({ method: route.method as 'GET', url });
      assert.equal(anonymous.statusCode, 401, `${key} refuses a request without a token`);
    }
  });
});
