// PagerDuty: v3 webhooks in (signed, several signatures during a secret rotation); incident events
// update the incident on the change linked to it; a health check of the REST API key. Outbound calls
// (on-call lookups, incident notes) are not built yet.
import { defineConnector, needsWebhookSecret, type InboundDelivery } from '../../src/sdk/index.ts';
import { parsePagerDuty, pagerDutyEvent } from './parse.ts';
import { verifyPagerDuty } from './verify.ts';

export default defineConnector({
  id: 'pagerduty',
  displayName: 'PagerDuty',
  vendor: { pagination: 'offset', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['ratelimit-reset'] },
  webhook: {
    verify: verifyPagerDuty,
    // X-Webhook-Id is stable across PagerDuty's retries; the event id is the same fact in the body.
    dedupeKey(d: InboundDelivery, body?: unknown) {
      const id = d.headers['x-webhook-id'] ?? pagerDutyEvent(d, body)?.id;
      return typeof id === 'string' && id !== '' ? id : null;
    },
    eventName(d: InboundDelivery, body?: unknown) {
      const type = pagerDutyEvent(d, body)?.event_type;
      return typeof type === 'string' ? type : null;
    },
    // PagerDuty orders per subscription and incident: so does the hub.
    orderingKey(d: InboundDelivery, body: unknown) {
      const data = pagerDutyEvent(d, body)?.data;
      return data?.type === 'incident' && typeof data.id === 'string' ? `incident/${data.id}` : null;
    },
    secretHeaders: ['x-pagerduty-signature', 'authorization'],
    settingsProblem: needsWebhookSecret,
  },
  parse: parsePagerDuty,
  // Any REST API key may read its account's abilities: the key is accepted and the host is PagerDuty's API.
  async health(ctx) {
    const res = await ctx.http.request<unknown>({ method: 'GET', path: '/abilities', headers: { accept: 'application/vnd.pagerduty+json;version=2' } });
    const abilities = typeof res.body === 'object' && res.body !== null ? (res.body as { abilities?: unknown }).abilities : undefined;
    if (!Array.isArray(abilities)) return { ok: false, detail: `${ctx.connection.baseUrl ?? 'baseUrl'} answered ${res.status} but not as PagerDuty's REST API (expected {"abilities": [...]}): check baseUrl is https://api.pagerduty.com` };
    return { ok: true, detail: `REST API key accepted (${abilities.length} abilities)` };
  },
  readme: 'connectors/pagerduty/README.md',
  options: [],
});
