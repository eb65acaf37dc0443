// Outbound actions against targets that refuse them, through a real hub process (issue 5, PRODUCT.md
// §10 Faults): a target answering 503 for a while gets every action once it is back, each once and in
// order per change, while /api/v1/connections shows the open circuit and the queued work; a target
// answering 429 with Retry-After (delay-seconds or an HTTP-date) is not called again before that time,
// by this change's action or any other's, and gets the action afterwards.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createToken } from '../../src/http/plugins/auth.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/port.ts';
import {
  changeRequest,
  e2eHubConfig,
  newWebhookSecret,
  rateLimitedCalls,
  send,
  signStandardWebhook,
  startCallbackTarget,
  startHub,
  unavailableForCalls,
  waitFor,
  type CallbackTarget,
  type GenericDelivery,
  type HubProcess,
  type TargetCall,
} from '../support/hub-process.ts';

const approver = 'rita.release@example.com';

/** Normal changes need one release manager's approval: each change gets actions from two deliveries
 * (the request, then the approval), so its actions queue behind each other across deliveries. */
const files: Record<string, string> = {
  'policy.yaml': [
    'version: 1',
    'risk:',
    '  factors: []',
    '  tiers: { low: 0, medium: 30, high: 60 }',
    'routes:',
    '  - { id: release-review, when: "change.type == \'normal\'", steps: [{ name: Release review, approvers: { group: release-managers } }] }',
    '',
  ].join('\n'),
  'directory.yaml': `people:\n  - { id: ${approver}, name: Rita Release, groups: [release-managers] }\n`,
};

/** A signed "change.requested" for a normal change from a deploy tool. */
const changeRequested = (connectionId: string, secret: string, externalId: string): GenericDelivery =>
  changeRequest(connectionId, secret, externalId, { type: 'normal', idPrefix: 'msg_req_' });

/** A signed "decision.recorded": the release manager approved the deployment in the deploy tool. */
function approvedBy(connectionId: string, secret: string, externalId: string): GenericDelivery {
  const id = `msg_ok_${externalId}`;
  const body = JSON.stringify({ type: 'decision.recorded', link: { kind: 'deployment', externalId }, outcome: 'approve', actor: approver, rationale: 'Looks good', at: new Date().toISOString() });
  return { id, externalId, path: `/webhooks/${connectionId}`, body, headers: signStandardWebhook(secret, id, body) };
}

interface CallbackBody {
  type: string;
  link: { externalId: string } | null;
  params: { state?: string; outcome?: string; event?: string };
}
/** Which effect a callback carries, e.g. "sync-state:approved" or "comment:approval-requested". */
function actionOf(call: TargetCall): string {
  const b = call.body as CallbackBody;
  return `${b.type}:${b.params.state ?? b.params.outcome ?? b.params.event ?? ''}`;
}
const changeOf = (call: TargetCall) => (call.body as CallbackBody).link?.externalId ?? '';
const performed = (target: CallbackTarget, externalId: string) => target.log.filter((c) => c.status === 200 && changeOf(c) === externalId);

describe('outbound actions of a real hub against targets that refuse them', { concurrency: true }, () => {
  const secret = newWebhookSecret();
  let outage: CallbackTarget;
  let limited: CallbackTarget;
  let slow: CallbackTarget;
  let blip: CallbackTarget;
  let hub: HubProcess;
  let store: Store;
  let token: string;
  /** The actions of one change, in the order the hub produces them (seen by a healthy target). */
  let produced: string[];

  const api = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: (await res.json()) as T };
  };

  /** Sends until the hub answers 202 (it may shed load with 429/503); returns the delivery id. */
  async function deliver(d: GenericDelivery): Promise<string> {
    return waitFor(`202 for ${d.id}`, async () => {
      const r = await send(hub.url, { ...d, headers: signStandardWebhook(secret, d.id, d.body as string) });
      if (r.status === 202 && r.json?.deliveryId) {
        // Readable the moment it is acknowledged (on the embedded default, possibly before the writer
        // thread has committed it from the ingest journal).
        const read = await api<{ id: string }>(`/api/v1/deliveries/${r.json.deliveryId}`);
        assert.equal(read.status, 200, `delivery ${r.json.deliveryId} readable at once`);
        return r.json.deliveryId;
      }
      assert.ok(r.status === 0 || r.status === 429 || r.status === 503, `delivery ${d.id} answered ${r.status}: ${r.text}`);
      return null;
    }, 30_000, 500);
  }
  async function processed(deliveryIds: string[]): Promise<void> {
    for (const id of deliveryIds) {
      await waitFor(`delivery ${id} processed`, async () => {
        const { body } = await api<{ status: string; reason?: string | null }>(`/api/v1/deliveries/${id}`);
        assert.ok(body.status === 'processed' || body.status === 'received', `delivery ${id} is ${body.status}: ${body.reason ?? ''}`);
        return body.status === 'processed' ? true : null;
      }, 30_000);
    }
  }
  const allPerformed = (target: CallbackTarget, externalIds: string[]) =>
    waitFor(`every action of ${externalIds.length} changes performed`, async () => (externalIds.every((e) => performed(target, e).length >= produced.length) ? true : null), 90_000, 250);

  interface ConnectionsView {
    queue: { outbound: { waiting: number; running: number; dead: number } };
    items: { id: string; health: { circuit?: string; circuitDetail?: { consecutiveFailures: number; lastError: string | null } } }[];
  }
  const connection = async (id: string) => {
    const { status, body } = await api<ConnectionsView>('/api/v1/connections');
    assert.equal(status, 200);
    return { health: body.items.find((i) => i.id === id)!.health, queue: body.queue };
  };

  /** Each key performed once, and each change's performed actions in the order the hub produced them. */
  function assertOnceInOrder(target: CallbackTarget, externalIds: string[]) {
    assert.deepEqual(target.repeated(), [], 'no action performed twice');
    assert.ok(!target.calls.has(''), 'every callback carries an Idempotency-Key');
    for (const e of externalIds) {
      const calls = performed(target, e);
      assert.deepEqual(calls.map(actionOf), produced, `actions for ${e}, in the order the hub produced them`);
      assert.equal(new Set(calls.map((c) => c.key)).size, produced.length, `one idempotency key per action of ${e}`);
    }
  }

  /** In order per change also across retries: no action of a change was even tried before the one
   * before it was performed. */
  function assertTriedInOrder(target: CallbackTarget, externalIds: string[]) {
    for (const e of externalIds) {
      let next = 0;
      for (const c of target.log.filter((x) => changeOf(x) === e)) {
        assert.equal(actionOf(c), produced[next], `${e}: call ${c.n} tried ${actionOf(c)} while ${produced[next]} was not yet performed`);
        if (c.status === 200) next++;
      }
      assert.equal(next, produced.length, `every action of ${e} performed`);
    }
  }

  before(async () => {
    outage = await startCallbackTarget();
    limited = await startCallbackTarget();
    slow = await startCallbackTarget();
    blip = await startCallbackTarget();
    hub = await startHub({
      config: e2eHubConfig({
        connections: [
          { id: 'deploy-flaky', secretEnv: 'DEPLOY_TOOL_SECRET', callbackUrl: outage.url },
          { id: 'deploy-limited', secretEnv: 'DEPLOY_TOOL_SECRET', callbackUrl: limited.url },
          { id: 'deploy-slow', secretEnv: 'DEPLOY_TOOL_SECRET', callbackUrl: slow.url },
          { id: 'deploy-blip', secretEnv: 'DEPLOY_TOOL_SECRET', callbackUrl: blip.url },
        ],
      }),
      env: { DEPLOY_TOOL_SECRET: secret },
      files,
    });
    store = await openStore(`sqlite:${hub.dataDir}/hub.db`);
    token = (await createToken(store, { name: `viewer-${randomUUID().slice(0, 8)}`, roles: ['viewer'] })).secret;

    // One change through a healthy target shows the order the hub produces a change's actions in.
    const control = `control-${randomUUID().slice(0, 8)}`;
    await processed([await deliver(changeRequested('deploy-limited', secret, control))]);
    await processed([await deliver(approvedBy('deploy-limited', secret, control))]);
    await waitFor('the control change\'s actions', async () => (performed(limited, control).length >= 5 ? true : null), 30_000);
    produced = performed(limited, control).map(actionOf);
    // The request's actions come before the approval's (the approval was sent after the request was
    // processed); within each delivery the order is the engine's.
    assert.deepEqual(produced.slice(0, 2).sort(), ['comment:approval-requested', 'sync-state:pending-approval']);
    assert.deepEqual(produced.slice(2).sort(), ['answer-gate:approved', 'comment:approved', 'sync-state:approved']);
  });

  after(async () => {
    await store?.close();
    await hub?.dispose();
    await outage?.close();
    await limited?.close();
    await slow?.close();
    await blip?.close();
  });

  it('a target answering 503 for a while gets every action after it recovers, once each and in order per change', { timeout: 150_000 }, async (t) => {
    const run = randomUUID().slice(0, 8);
    const changes = Array.from({ length: 6 }, (_, i) => `flaky-${run}-${i}`);
    // Down for every call that reaches it before `upAt` (set when the test ends the outage).
    let upAt = Infinity;
    outage.setMode(({ at }) => (at < upAt ? { status: 503 } : null));
    try {
      // Request, then approve, every change while the target is down: each change's five actions queue up.
      await processed(await Promise.all(changes.map((e) => deliver(changeRequested('deploy-flaky', secret, e)))));
      await processed(await Promise.all(changes.map((e) => deliver(approvedBy('deploy-flaky', secret, e)))));

      // The outage shows: the circuit opened, /readyz is degraded (not down), the actions wait in the queue.
      const seen = await waitFor('the circuit of deploy-flaky to open', async () => {
        const c = await connection('deploy-flaky');
        return c.health.circuit === 'open' ? c : null;
      }, 60_000);
      assert.match(seen.health.circuitDetail?.lastError ?? '', /503/);
      assert.ok(seen.queue.outbound.waiting + seen.queue.outbound.running >= changes.length * produced.length, `the queue holds the actions: ${JSON.stringify(seen.queue.outbound)}`);
      const ready = await fetch(`${hub.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal(((await ready.json()) as { status: string }).status, 'degraded');
      assert.equal(outage.calls.size, 0, 'nothing was performed while the target was down');
      assert.ok(outage.log.some((c) => c.status === 503), 'the target was called and refused');
    } finally {
      upAt = Date.now();
    }

    await allPerformed(outage, changes);
    const refused = outage.log.filter((c) => c.status === 503);
    t.diagnostic(`${refused.length} calls refused (for ${new Set(refused.map(changeOf)).size} changes); all performed ${Date.now() - upAt} ms after the recovery`);
    const after = await waitFor('the circuit to close and the queue to drain', async () => {
      const c = await connection('deploy-flaky');
      return c.health.circuit === 'closed' ? c : null;
    }, 30_000);
    assert.equal(after.queue.outbound.dead, 0, 'no action was dead-lettered');

    assertOnceInOrder(outage, changes);
    assert.equal(outage.calls.size, changes.length * produced.length, 'the target performed each change\'s actions and nothing else');
    for (const c of outage.log.filter((x) => x.status === 200)) assert.ok(c.at >= upAt, 'performed only after the recovery');
    assertTriedInOrder(outage, changes);
  });

  it('a target refusing a few calls with 503 gets them again from the client\'s own retries, in order, with the circuit kept closed', { timeout: 120_000 }, async () => {
    const changes = Array.from({ length: 4 }, (_, i) => `blip-${randomUUID().slice(0, 8)}-${i}`);
    // Fewer refusals than the breaker's threshold (5 in a row): an outage too short to open the circuit.
    blip.setMode(unavailableForCalls(3));
    await processed(await Promise.all(changes.map((e) => deliver(changeRequested('deploy-blip', secret, e)))));
    await processed(await Promise.all(changes.map((e) => deliver(approvedBy('deploy-blip', secret, e)))));
    await allPerformed(blip, changes);
    assert.equal(blip.log.filter((c) => c.status === 503).length, 3);
    assertOnceInOrder(blip, changes);
    assertTriedInOrder(blip, changes);
    const { health, queue } = await connection('deploy-blip');
    assert.equal(health.circuit, 'closed');
    assert.equal(health.circuitDetail?.consecutiveFailures, 0, 'the successes after the refusals reset the count');
    assert.equal(queue.outbound.dead, 0);
  });

  it('a target answering 429 with Retry-After is not called again before that time, then gets the actions', { timeout: 120_000 }, async (t) => {
    const run = randomUUID().slice(0, 8);
    const [first, second] = [`limited-${run}-a`, `limited-${run}-b`];
    const firstCall = limited.log.length + 1;
    const retryLogLines = () => hub.output().split('\n').filter((l) => l.includes('"connection":"deploy-limited"') && l.includes('"status":429')).length;
    /** Call n was answered 429, and the hub's log says it has read that answer (and so set its time to
     * come back): only a call sent after that can be held to the time. */
    const answered429 = async (n: number, seenBefore: number) => {
      const call = await waitFor(`call ${n} answered 429`, async () => {
        const c = limited.log.find((x) => x.n === n);
        return c && c.answeredAt > 0 ? c : null;
      }, 30_000, 50);
      assert.equal(call.status, 429);
      await waitFor('the hub to read the 429', async () => (retryLogLines() > seenBefore ? true : null), 10_000, 50);
      return call;
    };

    // Delay-seconds: the first action of the first change is told to come back in 3 s; a second change
    // requested meanwhile waits for that time too (the limit is the target's, not one action's).
    let logged = retryLogLines();
    limited.setMode(rateLimitedCalls([firstCall], () => '3'));
    const requested = [await deliver(changeRequested('deploy-limited', secret, first))];
    const bySeconds = await answered429(firstCall, logged);
    requested.push(await deliver(changeRequested('deploy-limited', secret, second)));
    await processed(requested);
    await waitFor('both requests\' actions', async () => (performed(limited, first).length >= 2 && performed(limited, second).length >= 2 ? true : null), 60_000);

    // HTTP-date: an approval's first action is told to come back at a whole second at least 3 s ahead.
    const dateCall = limited.log.length + 1;
    logged = retryLogLines();
    let retryAt = 0;
    limited.setMode(rateLimitedCalls([dateCall], (now) => {
      retryAt = Math.ceil((now + 3000) / 1000) * 1000;
      return new Date(retryAt).toUTCString();
    }));
    const approvals = [await deliver(approvedBy('deploy-limited', secret, first))];
    const byDate = await answered429(dateCall, logged);
    approvals.push(await deliver(approvedBy('deploy-limited', secret, second)));
    await processed(approvals);
    await allPerformed(limited, [first, second]);
    limited.setMode(null);

    // Measured from the 429's answer (the hub can only have read it later), and for the HTTP-date from
    // the date itself; a call at the very millisecond is allowed, an earlier one is not.
    const deadlines = [
      { call: bySeconds, notBefore: bySeconds.answeredAt + 3000, header: '3' },
      { call: byDate, notBefore: retryAt, header: byDate.retryAfter ?? '' },
    ];
    assert.equal(byDate.retryAfter, new Date(retryAt).toUTCString());
    for (const { call, notBefore, header } of deadlines) {
      const later = limited.log.filter((c) => c.n > call.n);
      assert.ok(later.length > 0, 'the target was called again after the 429');
      t.diagnostic(`Retry-After: ${header}: next call ${Math.min(...later.map((c) => c.at)) - notBefore} ms after the time allowed`);
      for (const c of later) {
        assert.ok(c.at >= notBefore, `call ${c.n} (${actionOf(c)} for ${changeOf(c)}) came ${notBefore - c.at} ms before Retry-After: ${header} allowed`);
      }
      // The refused action itself went out afterwards.
      assert.ok(later.some((c) => c.key === call.key && c.status === 200), `${actionOf(call)} was performed after the 429`);
    }
    assert.equal(limited.log.filter((c) => c.n >= firstCall && c.status === 429).length, 2, 'only the two calls chosen were refused');
    assertOnceInOrder(limited, [first, second]);
    const { health, queue } = await connection('deploy-limited');
    assert.equal(health.circuit, 'closed', 'a rate limit is an answer from a healthy target, not an outage');
    assert.equal(queue.outbound.dead, 0);
  });

  it('a Retry-After longer than the hub holds a worker for is kept by the queue: no call before it, then every action in order', { timeout: 120_000 }, async (t) => {
    const deployment = `slow-${randomUUID().slice(0, 8)}`;
    // The hub's HTTP client sleeps through waits of up to 30 s itself; a longer one goes back to the queue.
    const seconds = 31;
    slow.setMode(rateLimitedCalls([1], () => String(seconds)));
    await processed([await deliver(changeRequested('deploy-slow', secret, deployment))]);
    const refused = await waitFor('the first call answered 429', async () => (slow.log[0]?.answeredAt ? slow.log[0] : null), 30_000, 50);
    assert.equal(refused.status, 429);
    // The approval arrives while the first action waits: its actions queue behind it.
    await processed([await deliver(approvedBy('deploy-slow', secret, deployment))]);
    const waiting = await connection('deploy-slow');
    assert.ok(waiting.queue.outbound.waiting >= produced.length, `the change's actions wait in the queue: ${JSON.stringify(waiting.queue.outbound)}`);
    assert.equal(waiting.health.circuit, 'closed');

    await allPerformed(slow, [deployment]);
    const notBefore = refused.answeredAt + seconds * 1000;
    const later = slow.log.slice(1);
    t.diagnostic(`Retry-After: ${seconds}: next call ${Math.min(...later.map((c) => c.at)) - notBefore} ms after the time allowed`);
    for (const c of later) assert.ok(c.at >= notBefore, `call ${c.n} (${actionOf(c)}) came ${notBefore - c.at} ms before Retry-After: ${seconds} allowed`);
    assert.equal(later[0]?.key, refused.key, 'the refused action went out first once the time had come');
    assert.equal(slow.log.filter((c) => c.status === 429).length, 1);
    assertOnceInOrder(slow, [deployment]);
  });
});
