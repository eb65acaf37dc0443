// POST /webhooks/:connection through the real app (buildApp), a real SQLite store and the embedded
// queue, with the generic connector (Standard Webhooks signatures).
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { webhookRoutes } from '../../src/http/routes/webhooks.ts';
import { createLogger } from '../../src/log.ts';
import { connectorById } from '../../connectors/index.ts';
import { localDeliveryWriter, type DeliveryWriter } from '../../src/pipeline/delivery-writer.ts';
import { createIngest, deliveryJobKey, type Ingest, type IngestLimits } from '../../src/pipeline/ingest.ts';
import { openQueue } from '../../src/queue/index.ts';
import type { Queue } from '../../src/queue/port.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/port.ts';
import { newWebhookSecret, repoRoot, signStandardWebhook } from '../support/hub-process.ts';

interface Harness {
  app: FastifyInstance;
  store: Store;
  queue: Queue;
  ingest: Ingest;
  metrics: Registry;
  secret: string;
  logs: () => string;
  close(): Promise<void>;
}

async function harness(
  limits: Partial<IngestLimits> = {},
  wrapQueue: (q: Queue) => Queue = (q) => q,
  wrapWriter: (w: DeliveryWriter) => DeliveryWriter = (w) => w,
  more: { connections: string[]; env: Record<string, string> } = { connections: [], env: {} },
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'hub-ingest-'));
  const secret = newWebhookSecret();
  const file = join(dir, 'hub.yaml');
  writeFileSync(
    file,
    [
      'server: { bodyLimit: 16kb }',
      'store: sqlite:./hub.db',
      'connections:',
      '  - id: deploy-tool',
      '    connector: generic',
      '    webhook: { secret: "${env:DEPLOY_TOOL_SECRET}" }',
      ...more.connections,
      '',
    ].join('\n'),
  );
  const config = loadConfig({ file, env: { DEPLOY_TOOL_SECRET: secret, ...more.env } });
  let captured = '';
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => ((captured += c.toString()), cb()) }) });
  const store = await openStore(config.store);
  const queue = wrapQueue(await openQueue('embedded', { sqlitePath: join(dir, 'queue.db') }));
  const metrics = new Registry();
  const ingest = createIngest({ config, store, queue, log, metrics, limits, writer: wrapWriter(localDeliveryWriter(store, queue, log)) });
  const app = await buildApp({ config, store, queue, log, routes: [webhookRoutes({ config, store, queue, log, ingest })] });
  return {
    app,
    store,
    queue,
    ingest,
    metrics,
    secret,
    logs: () => captured,
    async close() {
      await app.close();
      await ingest.stop();
      await queue.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function changeRequested(externalId: string): string {
  return JSON.stringify({
    type: 'change.requested',
    change: { title: 'Deploy checkout 2.4.1', environment: 'production', requester: 'dev@example.com' },
    link: { kind: 'deployment', externalId },
  });
}

function post(h: Harness, opts: { body: string; headers: Record<string, string>; connection?: string }) {
  return h.app.inject({ method: 'POST', url: `/webhooks/${opts.connection ?? 'deploy-tool'}`, payload: opts.body, headers: opts.headers });
}

async function rejectionCount(h: Harness, reason: string): Promise<number> {
  const metric = await h.metrics.getSingleMetric('hub_webhook_rejections_total')!.get();
  return metric.values.filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0);
}

async function storedCount(h: Harness): Promise<number> {
  const by = await h.store.deliveries.countByStatus();
  return by.received + by.processed + by.ignored + by.failed;
}

describe('POST /webhooks/:connection', () => {
  let h: Harness;
  before(async () => {
    // These tests are about what is stored and answered, not about shedding load (its own suites below):
    // on a CI machine running other test files, one commit of 256 deliveries and its fsync can take
    // longer than the 100 ms after which later deliveries would get 429.
    h = await harness({ maxCommitWaitMs: 10_000 });
  });
  after(async () => {
    await h.close();
  });

  it('stores a signed delivery before answering 202, without its signature header', async () => {
    const id = `msg_${randomUUID()}`;
    const body = changeRequested('deploy-1');
    const res = await post(h, { body, headers: { ...signStandardWebhook(h.secret, id, body), authorization: 'Bearer sender-token' } });
    assert.equal(res.statusCode, 202);
    const answer = res.json() as { deliveryId: string; duplicate: boolean };
    assert.equal(answer.duplicate, false);
    const stored = await h.store.deliveries.get(answer.deliveryId);
    assert.ok(stored, 'the acknowledged delivery is in the store');
    assert.equal(stored.connectionId, 'deploy-tool');
    assert.equal(stored.dedupeKey, id);
    assert.equal(stored.event, 'change.requested');
    assert.equal(stored.body, body);
    assert.equal(stored.status, 'received');
    assert.equal(stored.headers['webhook-id'], id);
    assert.equal(stored.headers['webhook-signature'], undefined);
    assert.equal(stored.headers.authorization, undefined);
  });

  it('queues the stored delivery for processing', async () => {
    const id = `msg_${randomUUID()}`;
    const body = changeRequested('deploy-queued');
    await h.ingest.stop(); // earlier tests' enqueues are done
    const before = (await h.queue.depth()).delivery.waiting;
    const res = await post(h, { body, headers: signStandardWebhook(h.secret, id, body) });
    assert.equal(res.statusCode, 202);
    await h.ingest.stop(); // waits for pending enqueues
    assert.equal((await h.queue.depth()).delivery.waiting, before + 1);
  });

  it('answers a redelivery 202 duplicate and stores it once', async () => {
    const id = `msg_${randomUUID()}`;
    const body = changeRequested('deploy-2');
    const first = await post(h, { body, headers: signStandardWebhook(h.secret, id, body) });
    const count = await storedCount(h);
    // A sender retry: same webhook-id, signed again later.
    const again = await post(h, { body, headers: signStandardWebhook(h.secret, id, body, Math.floor(Date.now() / 1000) + 1) });
    assert.equal(again.statusCode, 202);
    assert.deepEqual(again.json(), { deliveryId: first.json().deliveryId, duplicate: true });
    assert.equal(await storedCount(h), count);
  });

  it('stores one of several copies of a delivery arriving at the same moment', async () => {
    const id = `msg_${randomUUID()}`;
    const body = changeRequested('deploy-burst-copy');
    const count = await storedCount(h);
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(h, { body, headers: signStandardWebhook(h.secret, id, body) })));
    assert.deepEqual(answers.map((a) => a.statusCode), [202, 202, 202, 202, 202, 202]);
    const ids = new Set(answers.map((a) => (a.json() as { deliveryId: string }).deliveryId));
    assert.equal(ids.size, 1, 'every copy names the same stored delivery');
    assert.equal(answers.filter((a) => (a.json() as { duplicate: boolean }).duplicate).length, 5);
    assert.equal(await storedCount(h), count + 1);
  });

  it('stores every one of 300 concurrent deliveries', async () => {
    const count = await storedCount(h);
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => {
        const body = changeRequested(`deploy-many-${i}`);
        return post(h, { body, headers: signStandardWebhook(h.secret, `msg_${randomUUID()}`, body) });
      }),
    );
    assert.ok(answers.every((a) => a.statusCode === 202), `statuses: ${[...new Set(answers.map((a) => a.statusCode))].join(',')}`);
    for (const a of answers.slice(0, 20)) assert.ok(await h.store.deliveries.get((a.json() as { deliveryId: string }).deliveryId));
    assert.equal(await storedCount(h), count + 300);
  });

  it('refuses an unknown connection with 404 problem JSON', async () => {
    const body = changeRequested('deploy-3');
    const res = await post(h, { connection: 'no-such-tool', body, headers: signStandardWebhook(h.secret, 'msg_x', body) });
    assert.equal(res.statusCode, 404);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    const problem = res.json() as { code: string; detail: string; status: number };
    assert.equal(problem.code, 'connection-not-found');
    assert.equal(problem.status, 404);
    assert.match(problem.detail, /no-such-tool/);
  });

  it('refuses a wrong signature with 401, stores nothing and counts the rejection', async () => {
    const count = await storedCount(h);
    const rejected = await rejectionCount(h, 'bad-signature');
    const body = changeRequested('deploy-4');
    const res = await post(h, { body, headers: signStandardWebhook(newWebhookSecret(), `msg_${randomUUID()}`, body) });
    assert.equal(res.statusCode, 401);
    const problem = res.json() as { code: string; detail: string };
    assert.equal(problem.code, 'bad-signature');
    assert.match(problem.detail, /does not match/);
    assert.match(problem.detail, /connection "[a-z0-9-]+"'s webhook\.secret nor one of its webhook\.secrets/, 'says what to check');
    assert.equal(await storedCount(h), count);
    assert.equal(await rejectionCount(h, 'bad-signature'), rejected + 1);
  });

  it('refuses a delivery without signature headers with 401', async () => {
    const res = await post(h, { body: changeRequested('deploy-5'), headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 401);
    assert.match((res.json() as { detail: string }).detail, /missing webhook-id/);
  });

  it('refuses a stale (replayed after the tolerance) delivery with 401', async () => {
    const body = changeRequested('deploy-6');
    const anHourAgo = Math.floor(Date.now() / 1000) - 3600;
    const res = await post(h, { body, headers: signStandardWebhook(h.secret, `msg_${randomUUID()}`, body, anHourAgo) });
    assert.equal(res.statusCode, 401);
    assert.match((res.json() as { detail: string }).detail, /tolerance/);
  });

  it('refuses a correctly signed body that is not JSON with 400', async () => {
    const count = await storedCount(h);
    const body = '{"type": "change.requested", ';
    const res = await post(h, { body, headers: signStandardWebhook(h.secret, `msg_${randomUUID()}`, body) });
    assert.equal(res.statusCode, 400);
    assert.equal((res.json() as { code: string }).code, 'bad-json');
    assert.equal(await storedCount(h), count);
  });

  it('says what to change when a signed body is form-encoded (a GitHub repository webhook\'s default)', async () => {
    const count = await storedCount(h);
    const body = `payload=${encodeURIComponent(changeRequested('deploy-form'))}`;
    const res = await post(h, { body, headers: { ...signStandardWebhook(h.secret, `msg_${randomUUID()}`, body), 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.statusCode, 400);
    assert.equal((res.json() as { detail: string }).detail, "the body is form-encoded, not JSON: set the webhook's content type to application/json in the sending tool");
    assert.equal(await storedCount(h), count);
  });

  it('refuses a body over the limit with 413 and counts it', async () => {
    const rejected = await rejectionCount(h, 'too-large');
    const body = JSON.stringify({ type: 'change.requested', padding: 'x'.repeat(20_000) });
    const res = await post(h, { body, headers: signStandardWebhook(h.secret, `msg_${randomUUID()}`, body) });
    assert.equal(res.statusCode, 413);
    assert.equal((res.json() as { code: string }).code, 'payload-too-large');
    assert.equal(await rejectionCount(h, 'too-large'), rejected + 1);
  });

  it('never logs the signature or the secret of a refused delivery', async () => {
    const body = changeRequested('deploy-7');
    const headers = signStandardWebhook(newWebhookSecret(), `msg_${randomUUID()}`, body);
    await post(h, { body, headers });
    assert.ok(!h.logs().includes(headers['webhook-signature']!.slice(3)), 'signature value not in the logs');
    assert.ok(!h.logs().includes(h.secret.slice('whsec_'.length)), 'secret not in the logs');
  });
});

describe('vendor webhook schemes through the route', () => {
  let h: Harness;
  // The connectors' recorded deliveries (copies of the vendors' documented payloads).
  const payload = (fixture: string) => readFileSync(join(import.meta.dirname, '..', '..', 'connectors', fixture, 'body.json'), 'utf8');
  before(async () => {
    h = await harness({}, undefined, undefined, {
      connections: [
        '  - { id: pagerduty, connector: pagerduty, webhook: { secret: "${env:PD_SECRET}", secrets: ["${env:PD_SECRET_NEW}"] } }',
        '  - { id: gitlab, connector: gitlab, webhook: { secret: "${env:GITLAB_TOKEN}" } }',
        '  - { id: ado, connector: azure-devops, webhook: { header: X-Hub-Secret, secret: "${env:ADO_SECRET}" } }',
      ],
      env: { PD_SECRET: 'pd-old', PD_SECRET_NEW: 'pd-new', GITLAB_TOKEN: 'gl-token', ADO_SECRET: 'ado-secret' },
    });
  });
  after(async () => {
    await h.close();
  });
  const hmac = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex');

  it('PagerDuty: any one of several v1 signatures verifies (rotation); X-Webhook-Id dedupes', async () => {
    const body = payload('pagerduty/fixtures/deliveries/incident-triggered');
    const headers = { 'content-type': 'application/json', 'x-webhook-id': `pd-${randomUUID()}`, 'x-pagerduty-signature': `v1=${hmac('retired', body)},v1=${hmac('pd-new', body)}` };
    const first = await post(h, { connection: 'pagerduty', body, headers });
    assert.equal(first.statusCode, 202, first.body);
    const again = await post(h, { connection: 'pagerduty', body, headers });
    assert.deepEqual(again.json(), { deliveryId: (first.json() as { deliveryId: string }).deliveryId, duplicate: true });
    const stored = await h.store.deliveries.get((first.json() as { deliveryId: string }).deliveryId);
    assert.equal(stored?.event, 'incident.triggered');
    assert.equal(stored?.headers['x-pagerduty-signature'], undefined);
    const forged = await post(h, { connection: 'pagerduty', body, headers: { ...headers, 'x-webhook-id': `pd-${randomUUID()}`, 'x-pagerduty-signature': `v1=${hmac('retired', body)}` } });
    assert.equal(forged.statusCode, 401);
  });

  it('GitLab: the plain token verifies and is not stored; a wrong one gets 401', async () => {
    const body = payload('gitlab/fixtures/deliveries/deployment-running');
    const headers = { 'content-type': 'application/json', 'x-gitlab-event': 'Deployment Hook', 'x-gitlab-event-uuid': randomUUID(), 'x-gitlab-token': 'gl-token' };
    const ok = await post(h, { connection: 'gitlab', body, headers });
    assert.equal(ok.statusCode, 202, ok.body);
    const stored = await h.store.deliveries.get((ok.json() as { deliveryId: string }).deliveryId);
    assert.ok(stored?.dedupeKey.startsWith(`${headers['x-gitlab-event-uuid']}/`), stored?.dedupeKey);
    assert.equal(stored?.headers['x-gitlab-token'], undefined);
    const wrong = await post(h, { connection: 'gitlab', body, headers: { ...headers, 'x-gitlab-token': 'gl-tokeN' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal((wrong.json() as { reason: string }).reason, 'bad-signature');
  });

  it('GitLab without Idempotency-Key: two events sharing X-Gitlab-Event-UUID (a recursive hook) are both stored, a resend of one is a duplicate', async () => {
    // GitLab docs: the Event-UUID is "unique per webhook that is not recursive … recursive webhooks have
    // the same value"; Idempotency-Key (17.4+) is what stays the same across retries.
    const running = payload('gitlab/fixtures/deliveries/deployment-running');
    const canceled = running.replace('"status": "running"', '"status": "canceled"').replace('"2024-11-24 13:05:10 +0000"', '"2024-11-24 13:05:41 +0000"');
    assert.notEqual(canceled, running);
    const headers = { 'content-type': 'application/json', 'user-agent': 'GitLab/17.3.0', 'x-gitlab-event': 'Deployment Hook', 'x-gitlab-instance': 'https://gitlab.example.com', 'x-gitlab-webhook-uuid': randomUUID(), 'x-gitlab-event-uuid': randomUUID(), 'x-gitlab-token': 'gl-token' };
    const first = await post(h, { connection: 'gitlab', body: running, headers });
    const second = await post(h, { connection: 'gitlab', body: canceled, headers });
    assert.equal(first.statusCode, 202, first.body);
    assert.equal(second.statusCode, 202, second.body);
    assert.equal(second.json<{ duplicate: boolean }>().duplicate, false, 'another event under the same Event-UUID is not a duplicate');
    assert.notEqual(second.json<{ deliveryId: string }>().deliveryId, first.json<{ deliveryId: string }>().deliveryId);
    assert.deepEqual((await post(h, { connection: 'gitlab', body: running, headers })).json(), { deliveryId: first.json<{ deliveryId: string }>().deliveryId, duplicate: true });
  });

  it('Azure DevOps: the header the connection names verifies and is not stored; the envelope id dedupes', async () => {
    const body = payload('azure-devops/fixtures/deliveries/approval-pending-basic-auth');
    const headers = { 'content-type': 'application/json', 'x-hub-secret': 'ado-secret' };
    const ok = await post(h, { connection: 'ado', body, headers });
    assert.equal(ok.statusCode, 202, ok.body);
    const stored = await h.store.deliveries.get((ok.json() as { deliveryId: string }).deliveryId);
    assert.equal(stored?.dedupeKey, (JSON.parse(body) as { id: string }).id);
    assert.equal(stored?.headers['x-hub-secret'], undefined);
    assert.equal((await post(h, { connection: 'ado', body, headers })).json<{ duplicate: boolean }>().duplicate, true);
    assert.equal((await post(h, { connection: 'ado', body, headers: { 'content-type': 'application/json' } })).statusCode, 401);
  });
});

describe('ingest under load', () => {
  it('answers 429 with Retry-After past the in-flight bound and stores exactly the accepted deliveries', async () => {
    const h = await harness({ maxInFlight: 8 });
    try {
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const body = changeRequested(`deploy-load-${i}`);
          return post(h, { body, headers: signStandardWebhook(h.secret, `msg_${randomUUID()}`, body) });
        }),
      );
      const accepted = answers.filter((a) => a.statusCode === 202);
      const refused = answers.filter((a) => a.statusCode === 429);
      assert.equal(accepted.length + refused.length, 200, `statuses: ${[...new Set(answers.map((a) => a.statusCode))].join(',')}`);
      assert.ok(refused.length > 0, 'some deliveries were refused');
      assert.ok(accepted.length >= 8, 'the bound itself was admitted');
      for (const r of refused) {
        assert.equal(r.headers['retry-after'], '1');
        assert.equal((r.json() as { code: string }).code, 'rate-limited');
      }
      assert.equal(await storedCount(h), accepted.length);
      assert.equal(await rejectionCount(h, 'overloaded'), refused.length);
    } finally {
      await h.close();
    }
  });
});

describe('ingest when its event loop is never idle', () => {
  it('refuses at once (429) after a second with the loop busy all the time, and takes deliveries again once it idles', async () => {
    const h = await harness();
    try {
      await h.ingest.start();
      const send = (i: number) => {
        const body = changeRequested(`deploy-busy-${i}`);
        return post(h, { body, headers: signStandardWebhook(h.secret, `msg_${randomUUID()}`, body) });
      };
      assert.equal((await send(0)).statusCode, 202);
      // What a flood of senders does to the HTTP thread: work waiting at every turn of the loop, which
      // never sleeps. Slices of 20 ms with a turn of the loop between them let the timers run, as they do
      // between batches of sockets.
      const until = performance.now() + 1_400;
      while (performance.now() < until) {
        const slice = performance.now() + 20;
        while (performance.now() < slice);
        await new Promise((r) => setImmediate(r));
      }
      const refused = await send(1);
      assert.equal(refused.statusCode, 429, refused.body);
      assert.equal(refused.headers['retry-after'], '1');
      assert.match((refused.json() as { detail: string }).detail, /busy \d+% of the last second/);
      assert.equal(await rejectionCount(h, 'overloaded'), 1);
      // Past a second at rest (with room for late timers on a busy machine), the next delivery is taken.
      await new Promise((r) => setTimeout(r, 1_800));
      assert.equal((await send(2)).statusCode, 202);
      assert.equal(await storedCount(h), 2);
    } finally {
      await h.close();
    }
  });
});

describe('ingest when commits stall', () => {
  it('refuses at once (429) while deliveries wait too long for their commit, and stores exactly the accepted ones', async () => {
    // A disk that stops answering: the first commit hangs until released.
    let release: () => void = () => {};
    const stalled = new Promise<void>((resolve) => (release = resolve));
    let commits = 0;
    const h = await harness({ maxCommitWaitMs: 30, batchConcurrency: 1 }, undefined, (w) => ({
      ...w,
      write: async (items) => {
        if (commits++ === 0) await stalled;
        return w.write(items);
      },
    }));
    try {
      const send = (i: number) => {
        const body = changeRequested(`deploy-stall-${i}`);
        return post(h, { body, headers: signStandardWebhook(h.secret, `msg_${randomUUID()}`, body) });
      };
      // The first delivery's commit hangs; the next ones wait behind it.
      const waiting = [send(0), send(1), send(2)];
      await new Promise((r) => setTimeout(r, 80));
      const t0 = performance.now();
      const refused = await Promise.all([send(3), send(4)]);
      const tookMs = performance.now() - t0;
      for (const r of refused) {
        assert.equal(r.statusCode, 429);
        assert.equal(r.headers['retry-after'], '1');
        assert.match((r.json() as { detail: string }).detail, /waiting \d+ ms for their commit/);
      }
      assert.ok(tookMs < 1000, `refused at once, not after the stalled commit (${Math.round(tookMs)} ms)`);
      // The refusal does not wait for the body: a sender still sending it gets the 429 meanwhile.
      const body = changeRequested('deploy-stall-slow');
      const slow = new PassThrough();
      slow.write(body.slice(0, 10)); // and never the rest
      let timer: NodeJS.Timeout | undefined;
      const early = await Promise.race([
        h.app.inject({
          method: 'POST',
          url: '/webhooks/deploy-tool',
          payload: slow,
          headers: { ...signStandardWebhook(h.secret, `msg_${randomUUID()}`, body), 'content-type': 'application/json', 'content-length': String(body.length) },
        }),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer before the body was complete')), 5_000))),
      ]).finally(() => clearTimeout(timer));
      assert.equal(early.statusCode, 429);
      assert.equal(early.headers['retry-after'], '1');
      assert.equal((early.json() as { reason: string }).reason, 'overloaded');
      slow.destroy();
      release();
      const answered = await Promise.all(waiting);
      assert.deepEqual(answered.map((a) => a.statusCode), [202, 202, 202], 'the deliveries admitted before the stall are stored');
      assert.equal(await storedCount(h), 3);
      assert.equal(await rejectionCount(h, 'overloaded'), 3, 'each refusal counted once');
      // Once commits flow again, deliveries are taken again.
      assert.equal((await send(5)).statusCode, 202);
    } finally {
      release();
      await h.close();
    }
  });
});

describe('delivery sweep', () => {
  it('queues a stored delivery whose enqueue was lost, once however often it runs', async () => {
    const h = await harness();
    try {
      // What a crash between the commit and the enqueue leaves behind: a stored, never-queued delivery.
      const { delivery } = await h.store.deliveries.insert({
        id: randomUUID(),
        connectionId: 'deploy-tool',
        dedupeKey: `msg_${randomUUID()}`,
        event: 'change.requested',
        receivedAt: new Date(Date.now() - 60_000).toISOString(),
        headers: {},
        body: changeRequested('deploy-crashed'),
      });
      assert.equal((await h.queue.depth()).delivery.waiting, 0);
      assert.equal(await h.ingest.sweep(new Date()), 1);
      assert.equal(await h.ingest.sweep(new Date()), 1);
      assert.equal((await h.queue.depth()).delivery.waiting, 1, 'the queue holds the delivery once');
      await h.store.deliveries.setStatus(delivery.id, 'processed');
      assert.equal(await h.ingest.sweep(new Date()), 0, 'a processed delivery is left alone');
    } finally {
      await h.close();
    }
  });

  it('queues a delivery the queue refused (acknowledged all the same) at its next check', async () => {
    let refuse = true;
    const h = await harness({ sweepIntervalMs: 20 }, (q) => ({
      kind: q.kind,
      enqueue: (job) => (refuse ? Promise.reject(new Error('queue down')) : q.enqueue(job)),
      process: (kind, handler, opts) => q.process(kind, handler, opts),
      depth: () => q.depth(),
      deadLetters: (kind) => q.deadLetters(kind),
      replay: (ids) => q.replay(ids),
      ping: () => q.ping(),
      close: () => q.close(),
    }));
    try {
      await h.ingest.start();
      const id = `msg_${randomUUID()}`;
      const body = changeRequested('deploy-queue-down');
      const res = await post(h, { body, headers: signStandardWebhook(h.secret, id, body) });
      assert.equal(res.statusCode, 202, 'stored, so acknowledged');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await h.queue.depth()).delivery.waiting, 0, 'the queue refused it');
      assert.match(h.logs(), /stored but not queued/);
      refuse = false;
      const t0 = Date.now();
      while ((await h.queue.depth()).delivery.waiting === 0 && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 20));
      assert.equal((await h.queue.depth()).delivery.waiting, 1, 'queued by the sweep once the queue answers');
    } finally {
      await h.close();
    }
  });
});

describe('ingest at capacity, per sender', () => {
  // GitLab takes any 4xx as a misconfigured hook and disables it for good, and retries nothing; a 5xx
  // only disables it for a while. PagerDuty retries a 429 (and drops any other 4xx).
  it('asks GitLab to come back later with a 503, not a 429 that would disable its hook; PagerDuty still gets 429', async () => {
    const h = await harness({ maxBacklog: 0 }, undefined, undefined, {
      connections: ['  - { id: gitlab, connector: gitlab, webhook: { secret: "${env:GITLAB_TOKEN}" } }', '  - { id: pagerduty, connector: pagerduty, webhook: { secret: "${env:PD_SECRET}" } }'],
      env: { GITLAB_TOKEN: 'gl-token', PD_SECRET: 'pd-secret' },
    });
    try {
      const payload = (fixture: string) => readFileSync(join(repoRoot, 'connectors', fixture, 'body.json'), 'utf8');
      const gl = payload('gitlab/fixtures/deliveries/deployment-running');
      const glHeaders = { 'content-type': 'application/json', 'user-agent': 'GitLab/17.5.0', 'x-gitlab-event': 'Deployment Hook', 'x-gitlab-event-uuid': randomUUID(), 'idempotency-key': randomUUID(), 'x-gitlab-token': 'gl-token' };
      const refused = await post(h, { connection: 'gitlab', body: gl, headers: glHeaders });
      assert.equal(refused.statusCode, 503, refused.body);
      assert.equal(refused.headers['retry-after'], '1');
      assert.equal(await rejectionCount(h, 'overloaded'), 1);
      const pd = payload('pagerduty/fixtures/deliveries/incident-triggered');
      const pdHeaders = { 'content-type': 'application/json', 'user-agent': 'PagerDuty-Webhook/V3.0', 'x-webhook-id': randomUUID(), 'x-pagerduty-signature': `v1=${createHmac('sha256', 'pd-secret').update(pd).digest('hex')}` };
      const later = await post(h, { connection: 'pagerduty', body: pd, headers: pdHeaders });
      assert.equal(later.statusCode, 429, later.body);
      assert.equal(later.headers['retry-after'], '1');
      assert.equal(await rejectionCount(h, 'overloaded'), 2);
      assert.equal(await storedCount(h), 0);
    } finally {
      await h.close();
    }
  });
});

describe('ingest backlog and ordering', () => {
  it('refuses with 429 once the processing backlog reaches its bound, and accepts again when it drains', async () => {
    const h = await harness({ maxBacklog: 3, backlogCheckMs: 10 });
    await h.ingest.start();
    try {
      const send = () => {
        const body = changeRequested(`deploy-backlog-${randomUUID()}`);
        return post(h, { body, headers: signStandardWebhook(h.secret, `msg_${randomUUID()}`, body) });
      };
      // Nothing consumes the queue here, so every accepted delivery stays in the backlog.
      for (let i = 0; i < 3; i++) assert.equal((await send()).statusCode, 202);
      let refused = null;
      for (let i = 0; i < 200 && !refused; i++) {
        await new Promise((r) => setTimeout(r, 10));
        const res = await send();
        if (res.statusCode === 429) refused = res;
        else assert.equal(res.statusCode, 202, 'accepted until the backlog is read');
      }
      assert.ok(refused, 'a delivery was refused once the backlog was full');
      assert.equal(refused.headers['retry-after'], '1');
      assert.match((refused.json() as { detail: string }).detail, /waiting to be processed/);
      const accepted = await storedCount(h);
      // Processing drains the backlog: deliveries are accepted again.
      h.queue.process('delivery', async () => {});
      let again = 0;
      for (let i = 0; i < 300 && again === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
        if ((await send()).statusCode === 202) again++;
      }
      assert.equal(again, 1, 'accepted again after the backlog drained');
      assert.equal(await storedCount(h), accepted + 1, 'a refused delivery is not stored');
    } finally {
      await h.close();
    }
  });

  it('keys processing by the record a delivery is about, so one record is in order and others run in parallel', () => {
    const spec = connectorById('generic')!.webhook!;
    const delivery = (body: object) => ({ rawBody: Buffer.from(JSON.stringify(body)), headers: {}, receivedAt: new Date() });
    const a1 = { type: 'change.requested', link: { kind: 'deployment', externalId: 'deploy-1' } };
    const a2 = { type: 'decision.recorded', link: { kind: 'deployment', externalId: 'deploy-1' }, outcome: 'approve' };
    const b = { type: 'change.requested', link: { kind: 'deployment', externalId: 'deploy-2' } };
    const key = (body: object) => deliveryJobKey(spec, 'deploy-tool', delivery(body), body);
    assert.equal(key(a1), key(a2));
    assert.notEqual(key(a1), key(b));
    assert.ok(key(a1).startsWith('deploy-tool'), 'keys of different connections never meet');
    // Without a record to name, the whole connection is one line.
    assert.equal(key({ type: 'deployment.progress' }), 'deploy-tool');
  });

  it('keeps a ServiceNow approval behind its change request, a JSM approval behind its request, and a GitHub gate per deployment (recorded deliveries)', () => {
    const fixture = (connector: string, name: string) => {
      const text = readFileSync(join(repoRoot, 'connectors', connector, 'fixtures', 'deliveries', name, 'body.json'), 'utf8');
      const body = JSON.parse(text) as unknown;
      return deliveryJobKey(connectorById(connector)!.webhook!, connector, { rawBody: Buffer.from(text), headers: {}, receivedAt: new Date() }, body);
    };
    assert.equal(fixture('servicenow', 'approval-approved'), fixture('servicenow', 'change-approved'));
    assert.match(fixture('servicenow', 'change-approved'), /change_request\/c83c5e5347c12200e0ef563dbb9a7190$/);
    assert.match(fixture('github', 'deployment-gate-requested'), /deployment\/145988746$/);
    assert.equal(fixture('jira', 'jsm-approval-approved'), fixture('jira', 'issue-status-approved'), 'a JSM approval stays behind its request');
    assert.match(fixture('jira', 'issue-commented'), /^jira\u0000issue\/\d+$/);
  });
});
