// Generic connector: Standard Webhooks verification edge cases and the JSON callback action (msw).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import generic from '../../connectors/generic/index.ts';
import { actionContext, actionInput, actionOf } from './support/context.ts';
import { connectionFor } from './support/fixtures.ts';

const key = Buffer.from('generic-test-secret-0123456789ab');
const secret = `whsec_${key.toString('base64')}`;
const conn = connectionFor('generic', { baseUrl: 'https://deploy.example.com', webhook: { secret }, options: { callbackPath: '/hooks/approval-hub' } });
const body = '{"type":"change.requested"}';
const ts = '1732454400';
const sign = (k: Buffer, id = 'msg_1', t = ts, b = body) => `v1,${createHmac('sha256', k).update(`${id}.${t}.${b}`).digest('base64')}`;
const delivery = (headers: Record<string, string>, receivedAt = new Date(Number(ts) * 1000 + 1000)) => ({ rawBody: Buffer.from(body), headers, receivedAt });
const verify = (headers: Record<string, string>, at?: Date, c = conn) => generic.webhook!.verify(delivery(headers, at), c);

describe('generic Standard Webhooks verification', () => {
  it('accepts a valid v1 signature', () => {
    assert.deepEqual(verify({ 'webhook-id': 'msg_1', 'webhook-timestamp': ts, 'webhook-signature': sign(key) }), { ok: true });
  });
  it('accepts when any of several space-separated signatures matches (sender rotating its secret)', () => {
    const old = sign(Buffer.from('an-old-secret-that-was-rotated!!'));
    assert.deepEqual(verify({ 'webhook-id': 'msg_1', 'webhook-timestamp': ts, 'webhook-signature': `${old} ${sign(key)}` }), { ok: true });
  });
  it('accepts the previous secret during a rotation on the hub side', () => {
    const rotating = connectionFor('generic', { webhook: { secrets: [`whsec_${Buffer.from('old-one').toString('base64')}`, secret] } });
    assert.deepEqual(verify({ 'webhook-id': 'msg_1', 'webhook-timestamp': ts, 'webhook-signature': sign(key) }, undefined, rotating), { ok: true });
  });
  it('refuses a wrong signature', () => {
    assert.deepEqual(verify({ 'webhook-id': 'msg_1', 'webhook-timestamp': ts, 'webhook-signature': sign(Buffer.from('wrong')) }), { ok: false, reason: 'webhook-signature does not match the body' });
  });
  it('refuses a signature over another message id (replayed body under a new id)', () => {
    assert.deepEqual(verify({ 'webhook-id': 'msg_2', 'webhook-timestamp': ts, 'webhook-signature': sign(key, 'msg_1') }), { ok: false, reason: 'webhook-signature does not match the body' });
  });
  it('refuses a timestamp older than five minutes', () => {
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': ts, 'webhook-signature': sign(key) };
    assert.deepEqual(verify(headers, new Date((Number(ts) + 301) * 1000)), { ok: false, reason: 'webhook-timestamp is 301s away from now (tolerance 300s)' });
  });
  it('refuses a timestamp from the future beyond the tolerance', () => {
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': ts, 'webhook-signature': sign(key) };
    assert.equal(verify(headers, new Date((Number(ts) - 600) * 1000)).ok, false);
  });
  for (const missing of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    it(`refuses a delivery without ${missing}`, () => {
      const headers: Record<string, string> = { 'webhook-id': 'msg_1', 'webhook-timestamp': ts, 'webhook-signature': sign(key) };
      delete headers[missing];
      assert.deepEqual(verify(headers), { ok: false, reason: `missing ${missing} header` });
    });
  }
  it('uses webhook-id as the dedupe key and the body type as the event name', () => {
    const d = delivery({ 'webhook-id': 'msg_9' });
    assert.equal(generic.webhook!.dedupeKey(d), 'msg_9');
    assert.equal(generic.webhook!.eventName(d), 'change.requested');
  });
});

describe('generic callback action', () => {
  const server = setupServer();
  before(() => server.listen({ onUnhandledFrame: 'error' }));
  afterEach(() => server.resetHandlers());
  after(() => server.close());

  it('POSTs the effect as JSON with an Idempotency-Key header', async () => {
    let seen: { key: string | null; body: unknown } | null = null;
    server.use(
      http.post('https://deploy.example.com/hooks/approval-hub', async ({ request }) => {
        seen = { key: request.headers.get('idempotency-key'), body: await request.json() };
        return new HttpResponse(null, { status: 202 });
      }),
    );
    const ctx = await actionContext(generic, conn);
    const link = { kind: 'deployment', externalId: 'deploy-4711' };
    const result = await actionOf(generic, 'answer-gate')(
      actionInput('answer-gate', { idempotencyKey: 'chg_1:answer-gate:1', change: { id: 'chg_1', state: 'approved' }, link, params: { outcome: 'approved', reason: 'CAB approved' } }),
      ctx,
    );
    assert.deepEqual(result, { status: 'done', result: { status: 202 } });
    assert.deepEqual(seen, {
      key: 'chg_1:answer-gate:1',
      body: {
        type: 'answer-gate', idempotencyKey: 'chg_1:answer-gate:1', sentAt: '2024-11-24T13:30:00.000Z', change: { id: 'chg_1', state: 'approved' }, link,
        params: { outcome: 'approved', reason: 'CAB approved' },
      },
    });
  });

  it('refuses to run without a callback URL, as a permanent error', async () => {
    const ctx = await actionContext(generic, connectionFor('generic', {}));
    await assert.rejects(actionOf(generic, 'callback')(actionInput('callback'), ctx), { name: 'PermanentError', message: 'connection generic-test has no baseUrl to send callbacks to' });
  });
});
