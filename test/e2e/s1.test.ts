// S1 against a real hub process (`node src/server.ts`, embedded SQLite store and queue): a GitHub
// deployment waits on the hub's protection rule → ServiceNow change_request opened and the Jira issue
// from the branch commented → the hub restarts → the approver approves in ServiceNow → GitHub's gate is
// answered "approved"; the change's audit trail names every step and the chain verifies.
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createToken } from '../../src/http/plugins/auth.ts';
import { openStore } from '../../src/store/index.ts';
import { startFakeGitHub, type FakeGitHub } from '../fakes/github.ts';
import { startFakeJira, type FakeJira } from '../fakes/jira.ts';
import { startReceiver } from '../fakes/receiver.ts';
import { startFakeServiceNow, type FakeServiceNow } from '../fakes/servicenow.ts';
import { startGapProxy } from '../pipeline/fake-gaps.ts';
import { repoRoot, startHub, waitFor, type HubProcess } from '../support/hub-process.ts';

const GH_SECRET = 'e2e-gh-secret';
const SN_SECRET = 'e2e-sn-secret';

describe('S1 end to end: GitHub gate → ServiceNow approval (real hub process)', () => {
  let sn: FakeServiceNow;
  let gh: FakeGitHub;
  let jira: FakeJira;
  let proxies: { url: string; close(): Promise<void> }[];
  let hub: HubProcess;

  before(async () => {
    sn = await startFakeServiceNow();
    gh = await startFakeGitHub();
    jira = await startFakeJira();
    const ghApi = await startGapProxy('github', gh);
    const snApi = await startGapProxy('servicenow', sn);
    proxies = [ghApi, snApi];
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
    options: { systemOfRecord: true }
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
      env: { SN_PASSWORD: 'hub-password', SN_SECRET, GH_KEY: gh.privateKey, GH_SECRET, JIRA_TOKEN: 'jira-api-token', JIRA_SECRET: 'e2e-jira-secret' },
    });
  });
  after(async () => {
    await hub?.dispose();
    await Promise.all([sn?.close(), gh?.close(), jira?.close(), ...(proxies ?? []).map((p) => p.close())]);
  });

  /** GitHub's delivery for a waiting run, its callback URL on the API host the hub is configured with. */
  async function deploymentRequested(runId: number, ref: string): Promise<number> {
    const receiver = await startReceiver(202);
    try {
      await gh.sendDeploymentProtectionRule(receiver.url, { secret: GH_SECRET, runId, environment: 'staging', ref });
      const payload = JSON.parse(receiver.received[0]!.rawBody) as { deployment_callback_url: string };
      payload.deployment_callback_url = payload.deployment_callback_url.replace(gh.url, proxies[0]!.url);
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
        if ((res.status !== 429 && res.status !== 503) || attempt >= 5) return res.status;
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      await receiver.close();
    }
  }

  it('carries a deployment from GitHub through ServiceNow and back, across a restart', async () => {
    const issue = jira.createIssue({ summary: 'Fix fee rounding' });
    assert.equal(await deploymentRequested(4242, `${issue.key}-fee-rounding`), 202);

    const record = await waitFor('the ServiceNow change_request', async () => [...sn.tables.get('change_request')!.values()].find((r) => r.short_description?.includes(`${issue.key}-fee-rounding`)) ?? null, 30_000);
    await waitFor('the Jira comment', async () => (jira.issues.get(issue.key)!.comments.length > 0 ? true : null), 30_000);

    await hub.restart();

    sn.addUser({ user_name: 'priya.natarajan', email: 'priya.natarajan@acme.example', name: 'Priya Natarajan' });
    const approval = sn.requestApproval(record.sys_id!, 'priya.natarajan');
    sn.approve(approval.sys_id!, 'priya.natarajan', 'Verified on staging');
    let sent = await sn.sendBusinessRule(`${hub.url}/webhooks/servicenow`, 'sysapproval_approver', approval.sys_id!, ['state'], { secret: SN_SECRET });
    for (let i = 0; (sent.status === 429 || sent.status === 503) && i < 5; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      sent = await sn.sendBusinessRule(`${hub.url}/webhooks/servicenow`, 'sysapproval_approver', approval.sys_id!, ['state'], { secret: SN_SECRET });
    }
    assert.equal(sent.status, 202, sent.body);

    const answer = await waitFor('GitHub\'s gate callback', async () => gh.decisions.find((d) => d.runId === 4242) ?? null, 30_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${hub.output().slice(-4000)}`);
    });
    assert.equal(answer.state, 'approved');
    assert.equal(gh.decisions.filter((d) => d.runId === 4242).length, 1, 'the gate is answered once');

    // What an auditor sees.
    const store = await openStore(`sqlite:${hub.dataDir}/hub.db`);
    const { secret } = await createToken(store, { name: 'e2e-auditor', roles: ['auditor', 'viewer'], actor: 'auditor@acme.example' });
    await store.close();
    const auth = { authorization: `Bearer ${secret}` };
    const changeId = record.correlation_id!;
    const trail = (await (await fetch(`${hub.url}/api/v1/changes/${changeId}/transitions`, { headers: auth })).json()) as { items?: { action: string; actor: string; sourceTool: string }[] };
    const steps = (trail.items ?? (trail as unknown as { action: string; actor: string; sourceTool: string }[])).map((t) => `${t.action} ${t.actor} ${t.sourceTool}`);
    assert.ok(steps.includes('submitted Codertocat github'), steps.join('\n'));
    assert.ok(steps.includes('decision priya.natarajan@acme.example servicenow'), steps.join('\n'));
    assert.ok(steps.includes('state:approved hub hub'), steps.join('\n'));
    assert.ok(steps.includes('outbound system github'), 'the gate answer is on the trail');
    const verify = (await (await fetch(`${hub.url}/api/v1/audit/verify`, { headers: auth })).json()) as { ok: boolean };
    assert.equal(verify.ok, true);
  });
});
