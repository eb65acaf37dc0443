// Bottleneck per connection: calls are spaced 1000/perSecond ms apart, and with Redis several limiters
// (several hub processes) under one id share a single budget. Bottleneck reads the real clock, so these
// tests assert lower bounds on spacing only: the last call never starts before its slot, and one
// interval (200 ms) of slack covers a first call that starts late because the event loop was busy.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { createRateLimiter, type RateLimiter } from '../../../src/http-client/index.ts';
import { clientFor, connection } from './support.ts';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const opened: RateLimiter[] = [];
after(async () => {
  await Promise.all(opened.map((l) => l.close()));
});

async function startsOf(limiters: RateLimiter[], perLimiter: number): Promise<number[]> {
  const starts: number[] = [];
  await Promise.all(
    limiters.flatMap((l) =>
      Array.from({ length: perLimiter }, () =>
        l.schedule(async () => {
          starts.push(Date.now());
        }),
      ),
    ),
  );
  return starts.sort((a, b) => a - b);
}

describe('rate limiter', () => {
  it('spaces calls of one connection at least 1000/perSecond ms apart (in-process)', async () => {
    const limiter = createRateLimiter({ id: 'servicenow-prod', perSecond: 5 });
    opened.push(limiter);
    const starts = await startsOf([limiter], 5);
    assert.equal(starts.length, 5);
    assert.ok(starts[4]! - starts[0]! >= 3 * 200, `5 calls at 5/s spanned only ${starts[4]! - starts[0]!} ms`);
  });

  it('shares one budget between two limiters with the same id through Redis', async () => {
    const id = `test-${randomUUID()}`;
    const a = createRateLimiter({ id, perSecond: 5, redisUrl });
    const b = createRateLimiter({ id, perSecond: 5, redisUrl });
    opened.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    const starts = await startsOf([a, b], 3);
    assert.equal(starts.length, 6);
    // Two separate budgets would finish in about 400 ms; one shared budget needs about 1000 ms.
    assert.ok(starts[5]! - starts[0]! >= 4 * 200, `6 calls from two processes at 5/s spanned only ${starts[5]! - starts[0]!} ms`);
  });

  it("limits the client's calls by connection.rateLimit.perSecond", async () => {
    const server = setupServer();
    server.listen({ onUnhandledFrame: 'error' });
    const arrivals: number[] = [];
    server.use(
      http.get('https://acme.service-now.example/api/now/table/change_request/:id', () => {
        arrivals.push(Date.now());
        return HttpResponse.json({ result: {} });
      }),
    );
    try {
      const { client } = clientFor({ connection: connection({ rateLimit: { perSecond: 5 } }) });
      await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => client.request({ method: 'GET', path: `/api/now/table/change_request/${id}` })));
      arrivals.sort((x, y) => x - y);
      assert.equal(arrivals.length, 5);
      assert.ok(arrivals[4]! - arrivals[0]! >= 3 * 200, `5 calls at 5/s arrived within ${arrivals[4]! - arrivals[0]!} ms`);
    } finally {
      server.close();
    }
  });

  it('refuses a non-positive perSecond and a malformed Redis URL, naming them', () => {
    assert.throws(() => createRateLimiter({ id: 'jira', perSecond: 0 }), /rate limiter "jira": perSecond must be a positive number, got 0/);
    assert.throws(() => createRateLimiter({ id: 'jira', perSecond: 1, redisUrl: 'not a url' }), /redisUrl "not a url" is not a valid URL/);
  });
});
