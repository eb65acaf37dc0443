// What operators and tooling read: OpenAPI for every route, Prometheus metrics, liveness, readiness.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { registeredRoutes } from '../../src/http/plugins/auth.ts';
import { testHub, type TestHub } from './helpers.ts';

describe('OpenAPI and metrics', () => {
  let hub: TestHub;
  before(async () => { hub = await testHub({ pipeline: true }); });
  after(() => hub.close());

  test('/docs/json is OpenAPI 3 and lists every route the hub serves, with its schema', async () => {
    const res = await hub.app.inject({ url: '/docs/json' });
    assert.equal(res.statusCode, 200);
    const doc = JSON.parse(res.body) as { openapi: string; paths: Record<string, Record<string, { security?: unknown; description?: string; responses?: Record<string, unknown> }>>; components: { schemas: Record<string, unknown> } };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.components.schemas.Problem, 'the problem body is a named schema');
    const served = registeredRoutes(hub.app).filter((r) => !r.hidden);
    assert.ok(served.length >= 15);
    for (const r of served) {
      const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
      const op = doc.paths[path]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${r.url} is in the OpenAPI document`);
      if (r.roles) {
        assert.deepEqual(op.security, [{ bearerAuth: [] }], `${r.method} ${r.url} says it needs a bearer token`);
        assert.match(op.description ?? '', new RegExp(`Roles: ${r.roles.join(', ')}\\.`));
        assert.equal(op.description?.match(/Roles: /g)?.length, 1, `${r.method} ${r.url} states its roles once: ${op.description}`);
        assert.ok(op.responses?.['401'] && op.responses['403']);
      }
    }
    // The webhook route's refusals are part of its contract with senders (PRODUCT.md §8).
    const webhook = doc.paths['/webhooks/{connection}']?.post;
    assert.deepEqual(Object.keys(webhook?.responses ?? {}).sort(), ['202', '400', '401', '404', '413', '429', '503']);
  });

  test('/docs serves the Swagger UI page', async () => {
    const res = await hub.app.inject({ url: '/docs' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/html/);
  });

  test('/metrics has the default process metrics and a request histogram by route pattern', async () => {
    const token = await hub.token(['viewer']);
    await hub.app.inject({ url: '/api/v1/changes/chg-77', headers: { authorization: `Bearer ${token}` } });
    const res = await hub.app.inject({ url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.match(res.body, /^process_cpu_user_seconds_total /m);
    assert.match(res.body, /^nodejs_heap_size_used_bytes /m);
    assert.match(res.body, /^http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/changes\/:id",status_code="404"\} 1$/m);
    assert.ok(!res.body.includes('chg-77'), 'ids do not become label values');
  });

  test('/healthz answers while the process is up', async () => {
    const res = await hub.app.inject({ url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(res.body), { status: 'ok' });
  });

  test('/readyz is ready with the store, queue and pipeline details', async () => {
    const res = await hub.app.inject({ url: '/readyz' });
    assert.equal(res.statusCode, 200);
    const body = JSON.parse(res.body);
    assert.equal(body.status, 'ready');
    assert.equal(body.checks.store, 'ok');
    assert.equal(body.checks.queue, 'ok');
    assert.equal(body.checks.pipeline.status, 'ok');
  });
});

test('/readyz answers 503 once the store is closed', async () => {
  const hub = await testHub();
  try {
    assert.equal((await hub.app.inject({ url: '/readyz' })).statusCode, 200);
    await hub.store.close();
    const res = await hub.app.inject({ url: '/readyz' });
    assert.equal(res.statusCode, 503);
    const body = JSON.parse(res.body);
    assert.equal(body.status, 'not-ready');
    assert.equal(body.checks.store, 'unreachable');
    assert.equal(body.checks.queue, 'ok');
    assert.equal((await hub.app.inject({ url: '/healthz' })).statusCode, 200, 'the process itself is still alive');
  } finally {
    await hub.app.close();
    await hub.queue.close();
  }
});

test('/readyz answers 503 when the pipeline cannot report its health', async () => {
  const hub = await testHub({ health: async () => { throw new Error('policy failed to load'); } });
  try {
    const res = await hub.app.inject({ url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.equal(JSON.parse(res.body).checks.pipeline.status, 'unreachable');
  } finally {
    await hub.close();
  }
});
