// Scale-out (PRODUCT.md §10): two hub processes on one MongoDB (jongodb) and one Redis share the work.
// Deliveries go to either process (some to both at once, as a sender retrying through a load balancer
// would): each is stored once and handled once, every outbound action is performed once, and each
// reconciliation tick runs in exactly one of the processes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { openStore } from '../../src/store/index.ts';
import type { Store, Transition } from '../../src/store/port.ts';
import { startFakeServiceNow } from '../fakes/servicenow.ts';
import {
  changeRequest,
  e2eHubConfig,
  e2ePolicyFiles,
  newWebhookSecret,
  progressEvent,
  resign,
  send,
  startCallbackTarget,
  startHub,
  waitFor,
  withRedisDatabase,
  type GenericDelivery,
  type HubProcess,
} from '../support/hub-process.ts';
import { withDatabase } from '../support/mongo.ts';

const tools = ['deploy-a', 'deploy-b', 'deploy-c', 'deploy-d'];
const total = 600;
const changeCount = 40;
const sentToBoth = 100;

function snConnection(url: string): string {
  return [
    '  - id: servicenow-prod',
    '    connector: servicenow',
    `    baseUrl: ${url}`,
    '    auth: { type: basic, username: hub.integration, password: "${env:SN_PASSWORD}" }',
    '    webhook: { secret: "${env:SN_SECRET}" }',
    '    reconcile: { cron: "*/2 * * * * *" }',
    '',
  ].join('\n');
}

async function reconcileRuns(store: Store): Promise<Transition[]> {
  const out: Transition[] = [];
  for await (const t of store.audit.scan()) if (t.action === 'reconcile') out.push(t);
  return out;
}

describe('two hub processes sharing MongoDB and Redis', () => {
  it('store and handle each delivery once, perform each action once, and run each reconciliation tick once', { timeout: 170_000 }, async () => {
    const mongo = process.env.JONGODB_URI;
    if (!mongo) throw new Error('JONGODB_URI is not set: run the tests through scripts/test.ts, which starts jongodb');
    const storeUrl = withDatabase(mongo, `scale-${randomUUID().slice(0, 8)}`);
    const redis = withRedisDatabase(12);
    await redis.clear();
    const target = await startCallbackTarget();
    const sn = await startFakeServiceNow();
    sn.createChange({ short_description: 'Found by every reconciliation run' });
    const secret = newWebhookSecret();
    const config = e2eHubConfig({ connections: tools.map((id) => ({ id, secretEnv: 'DEPLOY_TOOL_SECRET', callbackUrl: target.url })) }) + snConnection(sn.url);
    const env = { DEPLOY_TOOL_SECRET: secret, SN_PASSWORD: 'hub-password', SN_SECRET: 'sn-secret', MONGODB_URI: storeUrl, REDIS_URL: redis.url };
    const hubs: HubProcess[] = [];
    let store: Store | null = null;
    try {
      hubs.push(await startHub({ config, env, files: e2ePolicyFiles }));
      hubs.push(await startHub({ config, env, files: e2ePolicyFiles }));
      const run = randomUUID().slice(0, 8);
      const every = Math.floor(total / changeCount);
      const deliveries: GenericDelivery[] = Array.from({ length: total }, (_, i) =>
        i % every === 0 && i / every < changeCount
          ? changeRequest(tools[i % tools.length]!, secret, `deploy-${run}-${i}`)
          : progressEvent(tools[i % tools.length]!, secret, `progress-${run}-${i}`),
      );
      const changes = deliveries.filter((d) => d.externalId.startsWith('deploy-'));

      // Round-robin over the two processes; the first `sentToBoth` go to both at the same moment.
      const accepted = new Map<string, Set<string>>();
      let next = 0;
      const sender = async () => {
        while (next < deliveries.length) {
          const i = next++;
          const d = deliveries[i]!;
          const targets = i < sentToBoth ? hubs : [hubs[i % 2]!];
          await Promise.all(
            targets.map(async (hub) => {
              for (let attempt = 0; attempt < 20; attempt++) {
                const r = await send(hub.url, resign(d, secret));
                if (r.status === 202 && r.json?.deliveryId) {
                  const ids = accepted.get(d.id) ?? new Set<string>();
                  ids.add(r.json.deliveryId);
                  accepted.set(d.id, ids);
                  return;
                }
                assert.ok(r.status === 429 || r.status === 503, `delivery answered ${r.status}: ${r.text}`);
                await new Promise((res) => setTimeout(res, 500));
              }
              assert.fail(`delivery ${d.id} refused 20 times`);
            }),
          );
        }
      };
      await Promise.all(Array.from({ length: 16 }, sender));
      assert.equal(accepted.size, total, 'every delivery acknowledged');
      for (const [id, ids] of accepted) assert.equal(ids.size, 1, `${id}: both processes name one stored delivery`);

      store = await openStore(storeUrl);
      const s = store;
      let last = '';
      await waitFor(
        'every delivery handled and every callback performed',
        async () => {
          const c = await s.deliveries.countByStatus();
          const performed = new Set(target.bodies.map((b) => `${(b as { link?: { externalId?: string } }).link?.externalId}/${(b as { type?: string }).type}`)).size;
          last = `${JSON.stringify(c)}, ${performed} of ${changes.length * 3} callbacks`;
          return c.received === 0 && c.processed + c.ignored + c.failed === total && performed >= changes.length * 3 ? c : null;
        },
        120_000,
        1000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last seen: ${last}`);
      });
      assert.deepEqual(await s.deliveries.countByStatus(), { received: 0, processed: changes.length, ignored: total - changes.length, failed: 0 });
      assert.equal(target.calls.size, changes.length * 3, 'three actions per change');
      assert.deepEqual(target.repeated(), [], 'no action performed twice');

      // Reconciliation: both processes schedule every 2 s; each tick ran in exactly one of them.
      await waitFor('three reconciliation runs', async () => ((await reconcileRuns(s)).length >= 3 ? true : null), 30_000, 500);
      const ticks = (await reconcileRuns(s)).map((t) => (t.after as { tick: string | null }).tick);
      assert.ok(ticks.every((t) => typeof t === 'string'), 'scheduled runs name their tick');
      assert.equal(new Set(ticks).size, ticks.length, `one run per tick: ${ticks.join(', ')}`);
    } catch (err) {
      for (const h of hubs) process.stderr.write(`hub ${h.port} output (tail):\n${h.output().slice(-3000)}\n`);
      throw err;
    } finally {
      await store?.close();
      for (const h of hubs) await h.dispose();
      await target.close();
      await sn.close();
      await redis.clear();
    }
  });
});
