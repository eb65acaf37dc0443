// Generic webhook connector: Standard Webhooks in (the hub's own JSON events), JSON callbacks out.
import { defineConnector, type InboundDelivery } from '../../src/sdk/index.ts';
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
    eventName(d: InboundDelivery) {
      try {
        const type = (JSON.parse(d.rawBody.toString('utf8')) as { type?: unknown }).type;
        return typeof type === 'string' ? type : null;
      } catch {
        return null;
      }
    },
    secretHeaders: ['webhook-signature', 'authorization'],
  },
  parse: parseGeneric,
  actions: callbackActions,
  mappingKinds: ['change', 'decision'],
  // A change.requested event carries the change under `change`; a decision.recorded event is the decision.
  recordLocations: { change: { at: ['change', ''], has: [] } },
  readme: 'connectors/generic/README.md',
});
