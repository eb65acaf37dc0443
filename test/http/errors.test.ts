// Every error a client can get is RFC 9457 problem JSON with a status and a reason it can act on.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyPluginAsync } from 'fastify';
import { testHub, type TestHub } from './helpers.ts';

// A route plugin like the pipeline's webhook route: it reads the raw bytes and the parsed body.
const echo: FastifyPluginAsync = async (app) => {
  app.post('/echo', async (request) => ({
    rawBytes: request.rawBody?.length ?? null,
    rawText: request.rawBody?.toString('utf8') ?? null,
    body: (request.body ?? null) as unknown,
  }));
  app.post('/api/v1/echo', { config: { roles: ['viewer'] } }, async (request) => ({ body: (request.body ?? null) as unknown }));
  app.get('/explode', async () => {
    throw new Error('connect ECONNREFUSED mongodb://admin:s3cret-db-password@db.internal:27017');
  });
};

describe('problem JSON', () => {
  let hub: TestHub;
  before(async () => { hub = await testHub({ routes: [echo] }); });
  after(() => hub.close());

  function assertProblem(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, code: string) {
    assert.equal(res.statusCode, status);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    const p = JSON.parse(res.body) as Record<string, unknown>;
    assert.equal(p.status, status);
    assert.equal(p.code, code);
    assert.equal(p.type, `urn:approval-hub:problem:${code}`);
    assert.equal(typeof p.title, 'string');
    assert.equal(typeof p.detail, 'string');
    return p;
  }

  test('an unknown route is a 404 problem naming the method and path', async () => {
    const res = await hub.app.inject({ method: 'GET', url: '/api/v2/nothing?x=1' });
    const p = assertProblem(res, 404, 'not-found');
    assert.equal(p.detail, 'no route GET /api/v2/nothing');
  });

  test('an unknown route is a 404 even with a body that is not JSON', async () => {
    const res = await hub.app.inject({ method: 'POST', url: '/api/v1/nothing', headers: { 'content-type': 'application/json' }, payload: '{"state": ' });
    assertProblem(res, 404, 'not-found');
  });

  test('a body that is not JSON is a 400 saying so', async () => {
    const res = await hub.app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{"state": ' });
    const p = assertProblem(res, 400, 'bad-json');
    assert.match(String(p.detail), /not valid JSON/);
  });

  test('an API body that is not sent as JSON is a 415 naming the content type, not a missing field', async () => {
    const token = await hub.token(['viewer']);
    const res = await hub.app.inject({ method: 'POST', url: '/api/v1/echo', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'title=hello' });
    const p = assertProblem(res, 415, 'unsupported-media-type');
    assert.match(String(p.detail), /application\/json, not "application\/x-www-form-urlencoded"/);
  });

  test('a "__proto__" key is refused as bad JSON', async () => {
    const res = await hub.app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{"__proto__": {"admin": true}}' });
    assertProblem(res, 400, 'bad-json');
  });

  test('a body over the configured limit is a 413', async () => {
    assert.equal(hub.config.server.bodyLimitBytes, 4096);
    const res = await hub.app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ pad: 'x'.repeat(5000) }) });
    const p = assertProblem(res, 413, 'payload-too-large');
    assert.match(String(p.detail), /server\.bodyLimit/, 'names the setting');
  });

  test('a query parameter failing the route schema is a 400 naming the field', async () => {
    const token = await hub.token(['viewer']);
    const res = await hub.app.inject({ method: 'GET', url: '/api/v1/changes?limit=0', headers: { authorization: `Bearer ${token}` } });
    const p = assertProblem(res, 400, 'validation-failed');
    assert.equal(p.field, 'limit');
    assert.match(String(p.detail), /querystring field "limit" must be >= 1/);
    const unknown = await hub.app.inject({ method: 'GET', url: '/api/v1/changes?colour=red', headers: { authorization: `Bearer ${token}` } });
    assert.match(String(assertProblem(unknown, 400, 'validation-failed').detail), /"colour" is not a known field/);
  });

  test('a bad cursor is a 400 validation problem naming the field, where it is, and the store\'s reason', async () => {
    const token = await hub.token(['viewer']);
    const res = await hub.app.inject({ method: 'GET', url: '/api/v1/changes?cursor=not-ours', headers: { authorization: `Bearer ${token}` } });
    const p = assertProblem(res, 400, 'validation-failed');
    assert.equal(p.field, 'cursor');
    assert.equal(p.in, 'querystring');
    assert.equal(p.detail, 'querystring field "cursor" is not a cursor this hub issued (pass back the `next` value of the previous page)');
  });

  test('an unknown state filter is a 400 naming the field and the valid states, not an empty list', async () => {
    const token = await hub.token(['viewer']);
    const res = await hub.app.inject({ method: 'GET', url: '/api/v1/changes?state=bogus', headers: { authorization: `Bearer ${token}` } });
    const p = assertProblem(res, 400, 'validation-failed');
    assert.equal(p.field, 'state');
    assert.equal(p.in, 'querystring');
    assert.equal(p.detail, 'querystring field "state" must be one of draft, awaiting-prerequisites, pending-approval, approved, emergency-approved, implementing, implemented, review-pending, rolled-back, closed, rejected, expired, cancelled');
    const valid = await hub.app.inject({ method: 'GET', url: '/api/v1/changes?state=pending-approval', headers: { authorization: `Bearer ${token}` } });
    assert.equal(valid.statusCode, 200);
  });

  test('a 500 hides what went wrong inside and logs it with the request id', async () => {
    const res = await hub.app.inject({ method: 'GET', url: '/explode' });
    const p = assertProblem(res, 500, 'internal');
    assert.ok(!res.body.includes('s3cret-db-password') && !res.body.includes('ECONNREFUSED'));
    assert.match(String(p.detail), /logged with the request id/);
    const id = String(res.headers['x-request-id']);
    const line = hub.logs().split('\n').find((l) => l.includes(id) && l.includes('request failed'));
    assert.ok(line, 'the failure is logged with its request id');
  });

  test('the raw bytes of the body are kept next to the parsed JSON', async () => {
    const sent = '{ "b": 2,\n  "a": 1 }';
    const res = await hub.app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: sent });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(res.body), { rawBytes: Buffer.byteLength(sent), rawText: sent, body: { b: 2, a: 1 } });
  });

  test('a body of another type arrives as bytes', async () => {
    const res = await hub.app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'payload=%7B%7D' });
    assert.equal(res.statusCode, 200);
    assert.equal(JSON.parse(res.body).rawText, 'payload=%7B%7D');
  });
});
