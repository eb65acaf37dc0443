// SIGHUP to a real hub process (`node src/server.ts`): the hub reloads instead of dying (SIGHUP's default
// action), refuses a broken policy with its file:line, and /readyz shows the refusal while staying ready.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { e2eHubConfig, e2ePolicyFiles, startHub, type HubProcess } from '../support/hub-process.ts';

async function waitFor<T>(what: string, check: () => Promise<T | null | false>, out: () => string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}:\n${out().slice(-3000)}`);
}

describe('SIGHUP to a running hub process', () => {
  let hub: HubProcess;
  before(async () => {
    hub = await startHub({ config: e2eHubConfig({ connections: [] }), files: e2ePolicyFiles, env: { LOG_LEVEL: 'info' } });
  });
  after(() => hub.dispose());

  test('reloads on SIGHUP: a broken policy is refused and shown in /readyz, the hub keeps running', async () => {
    const policy = join(hub.dataDir, 'policy.yaml');
    writeFileSync(policy, e2ePolicyFiles['policy.yaml']!.replace(`when: "change.type == 'standard'"`, `when: "change.type == = 'standard'"`));
    process.kill(hub.pid()!, 'SIGHUP');
    await waitFor('the signal to be logged', async () => hub.output().includes('reload requested by signal'), hub.output);
    const body = await waitFor('the refusal in /readyz', async () => {
      const r = await fetch(`${hub.url}/readyz`);
      const json = (await r.json()) as { status: string; checks: { pipeline: { reload: { ok: boolean; message?: string; errors?: string[] } } } };
      return r.status === 200 && json.checks.pipeline.reload.ok === false ? json : null;
    }, hub.output);
    assert.notEqual(body.status, 'not-ready');
    assert.match(body.checks.pipeline.reload.message!, /^reload refused: /);
    assert.match(body.checks.pipeline.reload.errors!.join('\n'), /policy\.yaml:6: routes\[0\]\.when: /);
    assert.match(hub.output(), /reload refused: 1 problem in the edited files/);
    assert.notEqual(hub.pid(), null, 'the hub is still running after SIGHUP');

    // Fixed and signalled again: the refusal clears.
    writeFileSync(policy, e2ePolicyFiles['policy.yaml']!);
    process.kill(hub.pid()!, 'SIGHUP');
    await waitFor('the fixed policy in force', async () => {
      const r = await fetch(`${hub.url}/readyz`);
      return ((await r.json()) as { checks: { pipeline: { reload: { ok: boolean } } } }).checks.pipeline.reload.ok;
    }, hub.output);
  });
});
