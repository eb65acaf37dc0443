// Generic webhook connector: Standard Webhooks in (the hub's own JSON events), JSON callbacks out.
import { defineConnector, needsWebhookSecret, type InboundDelivery } from '../../src/sdk/index.ts';
import { callbackActions } from './actions/callback.ts';
import { parseGeneric } from './parse.ts';
import { verifyStandardWebhook } from './verify.ts';

export default defineConnector({
  id: 'generic',
  displayName: 'Generic webhook (Standard Webhooks)',
  vendor: { pagination: 'none', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: [] },
  webhook: {
    verify: verifyStandardWebhook,
    dedupeKey: (d: InboundDelivery) => d.headers['webhook-id'] ?? null,
    eventName(d: InboundDelivery, body?: unknown) {
      try {
        const type = ((body ?? JSON.parse(d.rawBody.toString('utf8'))) as { type?: unknown }).type;
        return typeof type === 'string' ? type : null;
      } catch {
        return null;
      }
    },
    // Every event names the record it is about: its link.
    orderingKey(_d: InboundDelivery, body: unknown) {
      const link = (body as { link?: { kind?: unknown; externalId?: unknown } } | null)?.link;
      return typeof link?.kind === 'string' && typeof link.externalId === 'string' ? `${link.kind}/${link.externalId}` : null;
    },
    secretHeaders: ['webhook-signature', 'authorization'],
    settingsProblem: needsWebhookSecret,
  },
  parse: parseGeneric,
  actions: callbackActions,
  mappingKinds: ['change', 'decision'],
  // A change.requested event carries the change under `change`; a decision.recorded event is the decision.
  recordLocations: { change: { at: ['change', ''], has: [] } },
  readme: 'connectors/generic/README.md',
  options: ['callbackPath'],
});
