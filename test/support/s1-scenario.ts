// S1 (issue 6) through real hub processes, written once and run on each backend a test file names:
// a GitHub deployment waits on the hub's protection rule → ServiceNow change_request opened and the
// Jira issue named in the branch commented → the approver decides in ServiceNow → GitHub's gate is
// answered. Three paths: approval delivered by ServiceNow's business-rule webhook (across a hub
// restart); approval whose webhook is lost, found by the connection's scheduled reconciliation; and a
// rejection, which ends in "rejected" with the approver's reason. Each asserts what an auditor sees:
// the change's transitions name every step with actor and source tool, and the chain verifies.
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { createToken } from '../../src/http/plugins/auth.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store, Transition } from '../../src/store/port.ts';
import { startFakeGitHub } from '../fakes/github.ts';
import { startFakeJira } from '../fakes/jira.ts';
import { startReceiver } from '../fakes/receiver.ts';
import { startFakeServiceNow } from '../fakes/servicenow.ts';
import { startGapProxy } from '../pipeline/fake-gaps.ts';
import { repoRoot, startHub, waitFor, withRedisDatabase, type HubProcess } from './hub-process.ts';
import { withDatabase } from './mongo.ts';

const GH_SECRET = 'e2e-gh-secret';
const SN_SECRET = 'e2e-sn-secret';
const APPROVER = { user_name: 'priya.natarajan', email: 'priya.natarajan@acme.example', name: 'Priya Natarajan' };

/** Where a hub keeps its changes and its jobs. */
export interface S1Backend {
  name: string;
  /** Prepares a fresh store and queue for one hub: the environment that selects them and the store URL
   * an auditor opens to mint a token and read the whole chain. */
  prepare(): Promise<{ env: Record<string, string>; storeUrl(hub: HubProcess): string; assertQueueUsed(hub: HubProcess): Promise<void>; cleanup(): Promise<void> }>;
}

/** The embedded default: SQLite next to hub.yaml and the embedded queue. */
export const embeddedBackend: S1Backend = {
  name: 'embedded SQLite store and queue',
  // startHub keeps REDIS_URL and MONGODB_URI from the hub, so the config's embedded store and queue are used.
  prepare: async () => ({
    env: {},
    storeUrl: (hub) => `sqlite:${hub.dataDir}/hub.db`,
    assertQueueUsed: async (hub) => assert.ok(existsSync(join(hub.dataDir, 'queue.db')), `the embedded queue file is next to the store in ${hub.dataDir}`),
    cleanup: async () => {},
  }),
};

/** The MongoDB-wire server scripts/test.ts starts (JONGODB_URI, a unique database per hub) and Redis
 * (its own database number, emptied of the hub's keys before and after). */
export function mongoRedisBackend(redisDb: number): S1Backend {
  return {
    name: `jongodb store and Redis queue (db ${redisDb})`,
    async prepare() {
      const mongo = process.env.JONGODB_URI;
      if (!mongo) throw new Error('JONGODB_URI is not set: run the tests through scripts/test.ts (npm test), which starts jongodb');
      const db = `s1-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
      const storeUrl = withDatabase(mongo, db);
      const redis = withRedisDatabase(redisDb);
      await redis.clear();
      return {
        env: { MONGODB_URI: storeUrl, REDIS_URL: redis.url },
        storeUrl: () => storeUrl,
        // The auditor's token minted in the jongodb database works, so the hub reads that store; the
        // queue's keys in this Redis database show the jobs went through Redis.
        async assertQueueUsed() {
          const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
          try {
            await client.connect();
            const [, keys] = await client.scan('0', 'MATCH', 'approval-hub:*', 'COUNT', 1000);
            assert.ok(keys.length > 0, `the hub's queue keys are in ${redis.url}`);
          } finally {
            client.disconnect();
          }
        },
        async cleanup() {
          await redis.clear();
          await dropDatabase(storeUrl, db);
        },
      };
    },
  };
}

/** Drops a test database; jongodb has no dropDatabase, so the store's collections are emptied instead. */
async function dropDatabase(url: string, db: string): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    const d = client.db(db);
    try {
      await d.dropDatabase();
    } catch {
      for (const name of ['changes', 'links', 'deliveries', 'jobs', 'conflicts', 'transitions', 'tokens', 'cursors', 'ticks', 'migrations']) {
        await d.collection(name).drop().catch(() => d.collection(name).deleteMany({}));
      }
    }
  } finally {
    await client.close();
  }
}

interface Trail {
  items: Transition[];
}

/** A hub wired to fake GitHub, ServiceNow and Jira (GitHub and ServiceNow behind the gap proxies that
 * answer what the fakes leave out), plus the helpers a scenario drives it with. */
async function startWorld(backend: S1Backend, opts: { reconcileCron?: string }) {
  const sn = await startFakeServiceNow();
  const gh = await startFakeGitHub();
  const jira = await startFakeJira();
  const ghApi = await startGapProxy('github', gh);
  const snApi = await startGapProxy('servicenow', sn);
  sn.addUser(APPROVER);
  const prepared = await backend.prepare();
  const reconcile = opts.reconcileCron ? `\n    reconcile: { cron: "${opts.reconcileCron}" }` : '';
  let hub: HubProcess;
  try {
    hub = await startHub({
      config: `
store: sqlite:./hub.db
queue: embedded
policy: ${join(repoRoot, 'config', 'policy.yaml')}
mappingsDir: ${join(repoRoot, 'mappings')}
connections:
  - id: servicenow
    connector: servicenow
    baseUrl: ${snApi.url}
    auth: { type: basic, username: hub.integration, password: "\${env:SN_PASSWORD}" }
    webhook: { secret: "\${env:SN_SECRET}" }
    options: { systemOfRecord: true }${reconcile}
  - id: github
    connector: github
    baseUrl: ${ghApi.url}
    auth: { type: github-app, appId: "${gh.appId}", privateKey: "\${env:GH_KEY}", installationId: "${gh.installations[0]!.id}" }
    webhook: { secret: "\${env:GH_SECRET}" }
    options: { jira: jira, changeDefaults: { team: payments, rollback: { plan: "Redeploy the previous release tag", complexity: low } } }
  - id: jira
    connector: jira
    baseUrl: ${jira.url}
    auth: { type: basic, username: hub@acme.example, password: "\${env:JIRA_TOKEN}" }
    webhook: { secret: "\${env:JIRA_SECRET}" }
    options: { project: CHG }
`,
      env: { SN_PASSWORD: 'hub-password', SN_SECRET, GH_KEY: gh.privateKey, GH_SECRET, JIRA_TOKEN: 'jira-api-token', JIRA_SECRET: 'e2e-jira-secret', ...prepared.env },
    });
  } catch (err) {
    await Promise.all([sn.close(), gh.close(), jira.close(), ghApi.close(), snApi.close()]);
    await prepared.cleanup();
    throw err;
  }

  // An auditor's token, minted in the hub's own store (as `approval-hub tokens create` would).
  const tokenStore = await openStore(prepared.storeUrl(hub));
  const { secret } = await createToken(tokenStore, { name: `e2e-auditor-${randomUUID().slice(0, 8)}`, roles: ['auditor', 'viewer'], actor: 'auditor@acme.example' });
  await tokenStore.close();
  const auth = { authorization: `Bearer ${secret}` };

  const world = {
    sn,
    gh,
    jira,
    hub,
    /** With the hub's last output, for a failure message. */
    explain: (e: Error) => new Error(`${e.message}\nhub output (tail):\n${hub.output().slice(-4000)}`),

    /** GitHub's delivery for a waiting run (its callback URL on the API host the hub is configured with),
     * for a branch named after a new Jira issue. Answers the ServiceNow change_request the hub opened. */
    async deploymentRequested(runId: number, slug: string) {
      const issue = jira.createIssue({ summary: `S1 ${slug}` });
      const ref = `${issue.key}-${slug}`;
      const receiver = await startReceiver(202);
      let status = 0;
      try {
        await gh.sendDeploymentProtectionRule(receiver.url, { secret: GH_SECRET, runId, environment: 'staging', ref });
        const payload = JSON.parse(receiver.received[0]!.rawBody) as { deployment_callback_url: string };
        payload.deployment_callback_url = payload.deployment_callback_url.replace(gh.url, ghApi.url);
        const raw = JSON.stringify(payload);
        for (let attempt = 0; ; attempt++) {
          const res = await fetch(`${hub.url}/webhooks/github`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-github-event': 'deployment_protection_rule',
              'x-github-delivery': randomUUID(),
              'x-hub-signature-256': `sha256=${createHmac('sha256', GH_SECRET).update(raw).digest('hex')}`,
            },
            body: raw,
          });
          status = res.status;
          // A sender told to come back later does so (GitHub's redelivery).
          if ((status !== 429 && status !== 503) || attempt >= 5) break;
          await new Promise((r) => setTimeout(r, 1000));
        }
      } finally {
        await receiver.close();
      }
      assert.equal(status, 202, 'the hub accepts GitHub\'s delivery');
      const record = await waitFor('the ServiceNow change_request', async () => [...sn.tables.get('change_request')!.values()].find((r) => r.short_description?.includes(ref)) ?? null, 30_000).catch((e: Error) => {
        throw world.explain(e);
      });
      await waitFor('the comment on the Jira issue', async () => (jira.issues.get(issue.key)!.comments.length > 0 ? true : null), 30_000).catch((e: Error) => {
        throw world.explain(e);
      });
      assert.match(record.correlation_id ?? '', /^chg-/, 'the change_request names the hub\'s change');
      return { issue, record, changeId: record.correlation_id! };
    },

    /** ServiceNow's business rule posting an approval's new state; answers the hub's delivery id. */
    async sendApprovalWebhook(approvalSysId: string): Promise<string> {
      let sent = await sn.sendBusinessRule(`${hub.url}/webhooks/servicenow`, 'sysapproval_approver', approvalSysId, ['state'], { secret: SN_SECRET });
      for (let i = 0; (sent.status === 429 || sent.status === 503) && i < 5; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        sent = await sn.sendBusinessRule(`${hub.url}/webhooks/servicenow`, 'sysapproval_approver', approvalSysId, ['state'], { secret: SN_SECRET });
      }
      assert.equal(sent.status, 202, sent.body);
      const { deliveryId } = JSON.parse(sent.body) as { deliveryId?: string };
      assert.ok(deliveryId, `the hub names the stored delivery: ${sent.body}`);
      return deliveryId;
    },

    async gateAnswer(runId: number) {
      const answer = await waitFor('GitHub\'s gate callback', async () => gh.decisions.find((d) => d.runId === runId) ?? null, 45_000).catch((e: Error) => {
        throw world.explain(e);
      });
      return answer;
    },

    async api<T>(path: string): Promise<T> {
      const res = await fetch(`${hub.url}${path}`, { headers: auth });
      const text = await res.text();
      assert.equal(res.status, 200, `GET ${path}: ${text}`);
      return JSON.parse(text) as T;
    },

    /** The change's trail as "action actor sourceTool" lines, oldest first. */
    async trail(changeId: string): Promise<{ items: Transition[]; steps: string[] }> {
      const { items } = await world.api<Trail>(`/api/v1/changes/${changeId}/transitions`);
      return { items, steps: items.map((t) => `${t.action} ${t.actor} ${t.sourceTool}`) };
    },

    /** The trail once the gate answer is on it: GitHub records the callback before its 204 reaches the hub,
     * and the hub writes the outbound step after that, so a trail read right after gateAnswer may precede it. */
    async trailAfterGateAnswer(changeId: string): Promise<{ items: Transition[]; steps: string[] }> {
      return waitFor('the gate answer on the trail', async () => {
        const t = await world.trail(changeId);
        return t.steps.includes('outbound system github') ? t : null;
      }, 30_000).catch(() => world.trail(changeId));
    },

    async assertChainVerifies() {
      const verify = await world.api<{ ok: boolean; checked: number; problems: unknown[] }>('/api/v1/audit/verify');
      assert.equal(verify.ok, true, JSON.stringify(verify.problems));
      assert.ok(verify.checked > 0);
    },

    /** The whole chain, read from the store as `approval-hub audit export` does. */
    async wholeChain(): Promise<Transition[]> {
      const store: Store = await openStore(prepared.storeUrl(hub));
      try {
        const out: Transition[] = [];
        for await (const t of store.audit.scan()) out.push(t);
        return out;
      } finally {
        await store.close();
      }
    },

    assertQueueUsed: () => prepared.assertQueueUsed(hub),

    async close() {
      await hub.dispose();
      await Promise.all([sn.close(), gh.close(), jira.close(), ghApi.close(), snApi.close()]);
      await prepared.cleanup();
    },
  };
  return world;
}

type World = Awaited<ReturnType<typeof startWorld>>;

/** The steps every S1 change has before anyone decides: GitHub's requester submitted it, the hub scored
 * it, built its plan and opened the step, opened the ServiceNow record and commented on the Jira issue. */
function assertRequestedSteps(steps: string[]) {
  const text = steps.join('\n');
  for (const s of steps) assert.match(s, /^\S+ \S+ \S+$/, `every step names its action, actor and source tool:\n${text}`);
  assert.ok(steps.includes('submitted Codertocat github'), `submitted by the GitHub requester:\n${text}`);
  assert.ok(steps.includes('risk-scored hub hub'), `risk scored:\n${text}`);
  assert.ok(steps.includes('plan-built hub hub'), `approval plan built:\n${text}`);
  assert.ok(steps.includes('state:pending-approval Codertocat github'), `waits for approval:\n${text}`);
  assert.ok(steps.includes('step-opened hub hub'), `approval step opened:\n${text}`);
  assert.ok(steps.some((s) => /^outbound system servicenow$/.test(s)), `ServiceNow change_request opened:\n${text}`);
  assert.ok(steps.some((s) => /^outbound system jira$/.test(s)), `Jira issue commented:\n${text}`);
}

/** Runs S1 against one backend: one describe block, one hub per block (started in before, disposed in after). */
export function describeS1(backend: S1Backend): void {
  describe(`S1 end to end through a real hub process on ${backend.name}`, () => {
    describe('approvals and rejections delivered by ServiceNow\'s webhook', () => {
      let w: World;
      before(async () => {
        w = await startWorld(backend, {});
      });
      after(async () => {
        await w?.close();
      });

      it('carries a deployment from GitHub through ServiceNow and back, across a restart', async () => {
        const { record, changeId } = await w.deploymentRequested(4242, 'fee-rounding');

        await w.hub.restart();

        const approval = w.sn.requestApproval(record.sys_id!, APPROVER.user_name);
        w.sn.approve(approval.sys_id!, APPROVER.user_name, 'Verified on staging');
        const deliveryId = await w.sendApprovalWebhook(approval.sys_id!);

        const answer = await w.gateAnswer(4242);
        assert.equal(answer.state, 'approved');
        assert.equal(answer.environment_name, 'staging');
        // The fake keeps every callback; give a duplicate a moment to show up before counting.
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(w.gh.decisions.filter((d) => d.runId === 4242).length, 1, 'the gate is answered once');
        assert.equal((await w.api<{ state: string }>(`/api/v1/changes/${changeId}`)).state, 'approved');

        const { items, steps } = await w.trailAfterGateAnswer(changeId);
        assertRequestedSteps(steps);
        const decision = items.find((t) => t.action === 'decision');
        assert.ok(decision, steps.join('\n'));
        assert.equal(decision.actor, APPROVER.email);
        assert.equal(decision.sourceTool, 'servicenow');
        assert.equal(decision.correlation, deliveryId, 'the decision came with ServiceNow\'s webhook delivery');
        assert.ok(steps.includes('state:approved hub hub'), steps.join('\n'));
        assert.ok(steps.includes('outbound system github'), `the gate answer is on the trail:\n${steps.join('\n')}`);
        await w.assertChainVerifies();
        await w.assertQueueUsed();
      });

      it('ends in "rejected" with the approver\'s reason, on the gate and on the trail', async () => {
        const reason = 'No rollback tested for the ledger migration';
        const { record, changeId } = await w.deploymentRequested(4343, 'ledger-migration');
        const approval = w.sn.requestApproval(record.sys_id!, APPROVER.user_name);
        w.sn.reject(approval.sys_id!, APPROVER.user_name, reason);
        const deliveryId = await w.sendApprovalWebhook(approval.sys_id!);

        const answer = await w.gateAnswer(4343);
        assert.equal(answer.state, 'rejected');
        assert.match(answer.comment ?? '', new RegExp(reason));
        assert.equal((await w.api<{ state: string }>(`/api/v1/changes/${changeId}`)).state, 'rejected');

        const { items, steps } = await w.trailAfterGateAnswer(changeId);
        assertRequestedSteps(steps);
        const decision = items.find((t) => t.action === 'decision');
        assert.ok(decision, steps.join('\n'));
        assert.equal(decision.actor, APPROVER.email);
        assert.equal(decision.sourceTool, 'servicenow');
        assert.equal(decision.correlation, deliveryId);
        assert.match(decision.rationale ?? '', new RegExp(reason), 'the reason is on the decision');
        // A rejection ends the change at once, in the rejecting person's name.
        assert.ok(steps.includes(`state:rejected ${APPROVER.email} servicenow`), steps.join('\n'));
        assert.ok(!steps.includes('state:approved hub hub'), steps.join('\n'));
        assert.ok(steps.includes('outbound system github'), `the gate answer is on the trail:\n${steps.join('\n')}`);
        await w.assertChainVerifies();
      });
    });

    describe('an approval whose webhook is lost', () => {
      let w: World;
      before(async () => {
        // Six fields, seconds first: reconcile every second.
        w = await startWorld(backend, { reconcileCron: '* * * * * *' });
      });
      after(async () => {
        await w?.close();
      });

      it('is found by the scheduled reconciliation and GitHub\'s gate is answered approved', async () => {
        const { record, changeId } = await w.deploymentRequested(4444, 'lost-webhook');
        const approval = w.sn.requestApproval(record.sys_id!, APPROVER.user_name);
        // Approved in ServiceNow; its business rule's post never reaches the hub.
        w.sn.approve(approval.sys_id!, APPROVER.user_name, 'Approved while the webhook was down');

        const answer = await w.gateAnswer(4444);
        assert.equal(answer.state, 'approved');
        assert.equal((await w.api<{ state: string }>(`/api/v1/changes/${changeId}`)).state, 'approved');

        const { items, steps } = await w.trailAfterGateAnswer(changeId);
        assertRequestedSteps(steps);
        const decision = items.find((t) => t.action === 'decision');
        assert.ok(decision, steps.join('\n'));
        assert.equal(decision.actor, APPROVER.email);
        assert.equal(decision.sourceTool, 'servicenow');
        assert.ok(steps.includes('state:approved hub hub'), steps.join('\n'));
        assert.ok(steps.includes('outbound system github'), `the gate answer is on the trail:\n${steps.join('\n')}`);

        // The run that found it says so on the chain: the decision carries the run's correlation.
        const chain = await w.wholeChain();
        const run = chain.find((t) => t.action === 'reconcile' && t.correlation === decision.correlation);
        assert.ok(run, `a reconcile entry for the run that found the decision (${decision.correlation}):\n${chain.filter((t) => t.action === 'reconcile').map((t) => `${t.seq} ${t.correlation}`).join('\n')}`);
        assert.equal(run.actor, 'system');
        assert.equal(run.sourceTool, 'servicenow');
        assert.match(run.rationale ?? '', /drift from missed webhooks is repaired/);
        // The change's own trail says so too: the repair, by the run, from ServiceNow.
        const repaired = await waitFor('the change\'s trail to show the drift repaired by reconciliation', async () =>
          (await w.trail(changeId)).items.find((t) => t.action === 'drift-repaired') ?? null, 30_000);
        assert.equal(repaired.correlation, decision.correlation);
        assert.equal(repaired.sourceTool, 'servicenow');
        assert.equal(repaired.actor, 'system');
        assert.match(repaired.rationale ?? '', /^drift repaired by reconciliation of connection servicenow/);
        await w.assertChainVerifies();
      });
    });
  });
}
