// A reload reaches the processing thread: the serving hub decides changes on its processing thread, while
// SIGHUP and the file watchers are the HTTP thread's. A policy edited and reloaded must decide the next
// webhook's change, not only show in /readyz.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { changeRequest, e2eHubConfig, e2ePolicyFiles, newWebhookSecret, send, startCallbackTarget, startHub, waitFor, type CallbackTarget, type HubProcess } from '../support/hub-process.ts';

interface GateAnswer {
  type: string;
  link: { externalId: string };
  params: { outcome?: string; reason?: string };
}

describe('a reload on a running hub process', () => {
  let hub: HubProcess;
  let target: CallbackTarget;
  const secret = newWebhookSecret();
  before(async () => {
    target = await startCallbackTarget();
    hub = await startHub({
      config: e2eHubConfig({ connections: [{ id: 'deploy', secretEnv: 'DEPLOY_SECRET', callbackUrl: target.url }] }),
      files: e2ePolicyFiles,
      env: { DEPLOY_SECRET: secret, LOG_LEVEL: 'info' },
    });
  });
  after(async () => {
    await hub.dispose();
    await target.close();
  });

  const gateAnswer = (externalId: string) =>
    waitFor(`the gate answer for ${externalId}`, async () => (target.bodies as GateAnswer[]).find((b) => b.type === 'answer-gate' && b.link.externalId === externalId) ?? null, 20_000, 50);

  test('decides the next change with the policy reloaded on SIGHUP', async () => {
    const first = await send(hub.url, changeRequest('deploy', secret, 'deploy-before-reload'));
    assert.equal(first.status, 202);
    assert.equal((await gateAnswer('deploy-before-reload')).params.outcome, 'approved', 'a standard change has no steps: approved at once');

    // The edited policy refuses every change. /readyz says "applied" only once the processing thread,
    // which decides the changes, has taken it too.
    const frozen = `${e2ePolicyFiles['policy.yaml']!}prerequisites:\n  - { id: frozen, when: "true", require: "false", onFail: reject, message: Frozen for the reload test }\n`;
    writeFileSync(join(hub.dataDir, 'policy.yaml'), frozen);
    process.kill(hub.pid()!, 'SIGHUP');
    await waitFor('the reload to be applied', async () => {
      const r = (await (await fetch(`${hub.url}/readyz`)).json()) as { checks: { pipeline: { reload: { ok: boolean; lastReloadAt: string | null } } } };
      return r.checks.pipeline.reload.ok && r.checks.pipeline.reload.lastReloadAt !== null ? true : null;
    }, 10_000, 50);

    const second = await send(hub.url, changeRequest('deploy', secret, 'deploy-after-reload'));
    assert.equal(second.status, 202);
    const answer = await gateAnswer('deploy-after-reload');
    assert.equal(answer.params.outcome, 'rejected', `decided with the reloaded policy: ${JSON.stringify(answer.params)}`);
    assert.match(answer.params.reason ?? '', /Frozen for the reload test/);
  });
});
