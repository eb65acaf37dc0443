// PagerDuty incidents onto the change they are linked to (S4's emergency change names its incident): a
// signed v3 webhook goes through ingest and processing, and the change shows the incident's new state
// with an audit entry; an incident no change is linked to is recorded as ignored, saying so.
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { secret } from '../connectors/support/fixtures.ts';
import { api, deliver, explain, GH_SECRET, startHub, waitFor, type PipelineHub } from './harness.ts';

const PD_SECRET = 'pd-webhook-secret';
const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', '..', 'connectors', 'pagerduty', 'fixtures', 'deliveries', name, 'body.json'), 'utf8');

describe('PagerDuty incidents on linked changes', () => {
  let hub: PipelineHub;
  let viewer: string;
  before(async () => {
    hub = await startHub({
      configPatch: (c) => ({
        ...c,
        connections: [...c.connections, { id: 'pagerduty', connector: 'pagerduty', baseUrl: null, auth: null, webhook: { secret: secret(PD_SECRET) }, mappings: {}, reconcile: null, rateLimit: null, options: {} }],
      }),
    });
    viewer = await hub.token(['viewer']);
  });
  after(() => hub.close());

  function sendPagerDuty(body: string): Promise<{ status: number; body: string }> {
    return deliver(async () => {
      const res = await fetch(hub.webhookUrl('pagerduty'), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'PagerDuty-Webhook/V3.0',
          'x-webhook-id': randomUUID(),
          'x-pagerduty-signature': `v1=${createHmac('sha256', PD_SECRET).update(body).digest('hex')}`,
        },
        body,
      });
      return { status: res.status, body: await res.text() };
    });
  }

  async function settled(deliveryId: string) {
    return waitFor(`delivery ${deliveryId} to be handled`, async () => {
      const r = await api(hub, viewer, 'GET', `/api/v1/deliveries/${deliveryId}`);
      return r.json.status !== 'received' ? r.json : null;
    });
  }

  it('records an incident no change is linked to as ignored, saying so', async () => {
    const sent = await sendPagerDuty(fixture('incident-triggered'));
    assert.equal(sent.status, 202, sent.body);
    const d = await settled(JSON.parse(sent.body).deliveryId);
    assert.equal(d.status, 'ignored');
    assert.match(d.reason, /no change is linked to pagerduty incident Q1ABCDE2FGHIJK/);
  });

  it('updates the linked change with the incident as PagerDuty reports it, triggered then resolved', async () => {
    const gate = await deliver(() => hub.gh.sendDeploymentProtectionRule(hub.webhookUrl('github'), { secret: GH_SECRET, runId: 4242, environment: 'staging', ref: 'hotfix-incident' }));
    assert.equal(gate.status, 202, gate.body);
    const change = await waitFor('the change for the deployment', async () => (await api(hub, viewer, 'GET', '/api/v1/changes')).json.items.find((c: { title: string }) => c.title.includes('hotfix-incident')));
    // What an emergency change raised for the incident carries: a link to it under the PagerDuty connection.
    await hub.store.links.upsert({ changeId: change.id, connectionId: 'pagerduty', kind: 'incident', externalId: 'Q1ABCDE2FGHIJK', url: null, versionSeen: null, data: {} });

    const triggered = await sendPagerDuty(fixture('incident-triggered'));
    const t = await settled(JSON.parse(triggered.body).deliveryId);
    assert.equal(t.status, 'processed', await explain(hub, change.id));
    let view = (await api(hub, viewer, 'GET', `/api/v1/changes/${change.id}`)).json;
    assert.equal(view.incident.status, 'triggered');
    assert.equal(view.incident.title, 'payments-api 5xx rate above 5%');
    assert.equal(view.incident.url, 'https://acme.pagerduty.com/incidents/Q1ABCDE2FGHIJK');

    const resolved = await sendPagerDuty(fixture('incident-resolved-during-secret-rotation'));
    assert.equal((await settled(JSON.parse(resolved.body).deliveryId)).status, 'processed');
    view = (await api(hub, viewer, 'GET', `/api/v1/changes/${change.id}`)).json;
    assert.equal(view.incident.status, 'resolved');
    const trail = await hub.store.audit.listForChange(change.id);
    assert.ok(trail.some((e) => e.sourceTool === 'pagerduty'), `an audit entry from PagerDuty:\n${await explain(hub, change.id)}`);

    // The triggered event again, under a new X-Webhook-Id (another subscription, or a resend): older
    // news than the resolution already applied, so the incident stays resolved and the delivery says why.
    const late = await sendPagerDuty(fixture('incident-triggered'));
    const l = await settled(JSON.parse(late.body).deliveryId);
    assert.equal(l.status, 'ignored');
    assert.match(l.reason, /pagerduty incident Q1ABCDE2FGHIJK version .* is older than version .* already applied \(a late delivery\)/);
    view = (await api(hub, viewer, 'GET', `/api/v1/changes/${change.id}`)).json;
    assert.equal(view.incident.status, 'resolved');
  });
});
