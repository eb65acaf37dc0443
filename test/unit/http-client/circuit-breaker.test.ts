// The per-connection circuit breaker, alone (on a fake clock) and inside the client (with msw).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { HttpError } from '../../../src/sdk/index.ts';
import { CircuitOpenError, createCircuitBreaker } from '../../../src/http-client/index.ts';
import { clientFor, fakeClock, rejection } from './support.ts';

const SN = 'https://acme.service-now.example';
const server = setupServer();
before(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
after(() => server.close());

describe('circuit breaker', () => {
  it('opens after the failure threshold and fails fast with the time until half-open', () => {
    const clock = fakeClock();
    const b = createCircuitBreaker({ failureThreshold: 3, openMs: 60_000, halfOpenProbes: 1, now: clock.now });
    for (let i = 0; i < 2; i++) {
      b.beforeCall('sn');
      b.onFailure('502 Bad Gateway');
    }
    assert.equal(b.state(), 'closed');
    b.beforeCall('sn');
    b.onFailure('502 Bad Gateway');
    assert.equal(b.state(), 'open');
    clock.t += 15_000;
    assert.throws(
      () => b.beforeCall('servicenow-prod'),
      (e: Error) =>
        e instanceof CircuitOpenError &&
        e instanceof HttpError &&
        e.retryAfterMs === 45_000 &&
        /connection "servicenow-prod" is failing \(circuit open: 502 Bad Gateway\); next try in 45 s/.test(e.message),
    );
    assert.deepEqual(b.snapshot(), {
      state: 'open',
      consecutiveFailures: 3,
      openedAt: new Date(clock.t - 15_000).toISOString(),
      retryInMs: 45_000,
      lastError: '502 Bad Gateway',
    });
  });

  it('lets only the configured probes through when half-open and closes when they succeed', () => {
    const clock = fakeClock();
    const b = createCircuitBreaker({ failureThreshold: 1, openMs: 10_000, halfOpenProbes: 2, now: clock.now });
    b.beforeCall('sn');
    b.onFailure('timeout');
    clock.t += 10_000;
    assert.equal(b.state(), 'half-open');
    b.beforeCall('sn');
    b.beforeCall('sn');
    assert.throws(() => b.beforeCall('sn'), CircuitOpenError);
    b.onSuccess();
    assert.equal(b.state(), 'half-open');
    b.onSuccess();
    assert.equal(b.state(), 'closed');
    assert.equal(b.snapshot().lastError, null);
  });

  it('re-opens when a half-open probe fails', () => {
    const clock = fakeClock();
    const b = createCircuitBreaker({ failureThreshold: 2, openMs: 10_000, halfOpenProbes: 1, now: clock.now });
    b.onFailure('x');
    b.onFailure('x');
    clock.t += 10_000;
    b.beforeCall('sn');
    b.onFailure('still down');
    assert.equal(b.state(), 'open');
    assert.equal(b.snapshot().retryInMs, 10_000);
  });

  it('does not count 4xx or rate limits as failures, and a success resets the count', () => {
    const b = createCircuitBreaker({ failureThreshold: 2, now: fakeClock().now });
    b.onFailure('x');
    b.onSuccess();
    b.onFailure('x');
    b.onNeutral();
    assert.equal(b.state(), 'closed');
    assert.equal(b.snapshot().consecutiveFailures, 1);
  });

  it('refuses nonsense settings with a clear message', () => {
    assert.throws(() => createCircuitBreaker({ failureThreshold: 0 }), /failureThreshold must be at least 1/);
  });
});

describe('client behind the breaker', () => {
  it('stops calling a failing vendor, fails fast while open, probes when half-open and closes on success', async () => {
    const clock = fakeClock();
    const breaker = createCircuitBreaker({ failureThreshold: 3, openMs: 30_000, halfOpenProbes: 1, now: clock.now });
    let calls = 0;
    let healthy = false;
    server.use(
      http.get(`${SN}/api/now/table/change_request`, () => {
        calls++;
        return healthy ? HttpResponse.json({ result: [] }) : HttpResponse.json({ error: { message: 'Service Unavailable' } }, { status: 503 });
      }),
    );
    const { client } = clientFor({ breaker, now: clock.now, sleep: clock.sleep, retry: { retries: 5, minMs: 0, maxMs: 0 } });
    const first = await rejection(client.request({ method: 'GET', path: '/api/now/table/change_request' }));
    assert.ok(first instanceof CircuitOpenError, first.message);
    assert.equal(calls, 3, 'the breaker opened after 3 failures, even with retries left');
    assert.equal(breaker.state(), 'open');

    const fast = await rejection(client.request({ method: 'GET', path: '/api/now/table/change_request' }));
    assert.ok(fast instanceof CircuitOpenError);
    assert.equal(fast.retryAfterMs, 30_000);
    assert.equal(calls, 3);

    clock.t += 30_000;
    healthy = true;
    const res = await client.request({ method: 'GET', path: '/api/now/table/change_request' });
    assert.equal(res.status, 200);
    assert.equal(breaker.state(), 'closed');
    assert.equal(calls, 4);
  });
});
