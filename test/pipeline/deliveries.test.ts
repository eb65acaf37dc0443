// What becomes of deliveries the hub cannot use: an event it does not handle is 'ignored' and a payload
// its mapping cannot read is 'failed', each with a reason an admin reads through the API; neither stops
// the workers, and the next good delivery is processed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, deliver, sendGitHub, startHub, waitFor, GH_SECRET, type PipelineHub } from './harness.ts';

const payload = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fakes', 'payloads', 'github-deployment_protection_rule.requested.json'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('deliveries the hub cannot use', () => {
  let hub: PipelineHub;
  let viewer: string;
  before(async () => {
    hub = await startHub();
    viewer = await hub.token(['viewer']);
  });
  after(() => hub.close());

  async function settled(deliveryId: string) {
    return waitFor(`delivery ${deliveryId} to be handled`, async () => {
      const r = await api(hub, viewer, 'GET', `/api/v1/deliveries/${deliveryId}`);
      return r.json.status !== 'received' ? r.json : null;
    });
  }

  it('ignores an event it does not handle, saying which', async () => {
    const sent = await sendGitHub(hub, 'star', { action: 'created', starred_at: '2026-11-24T10:00:00Z', repository: payload.repository, sender: payload.sender });
    assert.equal(sent.status, 202, sent.body);
    const d = await settled(JSON.parse(sent.body).deliveryId);
    assert.equal(d.status, 'ignored');
    assert.match(d.reason, /event "star" \(created\) is not handled/);
  });

  it('fails a payload the mapping cannot read, naming the field, and lists it under status=failed', async () => {
    const broken = structuredClone(payload);
    delete broken.environment;
    broken.deployment_callback_url = `${hub.gh.url}/repos/acme/payments-api/actions/runs/77/deployment_protection_rule`;
    broken.repository.full_name = 'acme/payments-api';
    const sent = await sendGitHub(hub, 'deployment_protection_rule', broken);
    assert.equal(sent.status, 202, sent.body);
    const id = JSON.parse(sent.body).deliveryId as string;
    const d = await settled(id);
    assert.equal(d.status, 'failed');
    assert.match(d.reason, /environment/);
    // The delivery is shown without its signature header.
    assert.equal(d.headers['x-hub-signature-256'], undefined);
    assert.equal(d.headers['x-github-event'], 'deployment_protection_rule');
    const failed = await api(hub, viewer, 'GET', '/api/v1/deliveries?status=failed');
    assert.equal(failed.status, 200);
    assert.ok(failed.json.items.some((x: { id: string; reason: string }) => x.id === id && /environment/.test(x.reason)));
  });

  it('keeps working after both: the next good delivery opens its ServiceNow record', async () => {
    const sent = await deliver(() => hub.gh.sendDeploymentProtectionRule(hub.webhookUrl('github'), { secret: GH_SECRET, runId: 78, environment: 'staging', ref: 'fix-after-bad-input' }));
    assert.equal(sent.status, 202, sent.body);
    await waitFor('the ServiceNow change_request', () => [...hub.sn.tables.get('change_request')!.values()].find((r) => r.short_description?.includes('fix-after-bad-input')));
  });

  it('refuses the deliveries API to a token without a reading role, and a bad status filter with the field named', async () => {
    const approverOnly = await hub.token(['approver']);
    assert.equal((await api(hub, approverOnly, 'GET', '/api/v1/deliveries')).status, 403);
    const bad = await api(hub, viewer, 'GET', '/api/v1/deliveries?status=lost');
    assert.equal(bad.status, 400);
    assert.match(bad.json.detail, /status/);
    assert.equal((await api(hub, viewer, 'GET', '/api/v1/deliveries/no-such-delivery')).status, 404);
  });
});
