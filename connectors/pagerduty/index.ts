// PagerDuty: v3 webhooks in (signed, several signatures during a secret rotation); incident events
// update the incident on the change linked to it. Outbound calls (on-call lookups, incident notes) are
// not built yet.
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
    dedupeKey(d: InboundDelivery) {
      const id = d.headers['x-webhook-id'] ?? pagerDutyEvent(d)?.id;
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
  readme: 'connectors/pagerduty/README.md',
});
