// Inbound deliveries as stored: what arrived, and what became of it ('ignored' and 'failed' carry the
// reason). Secret headers are removed before a delivery is stored; this view filters again anyway.
import type { FastifyPluginAsync } from 'fastify';
import { apiError } from '../../errors.ts';
import type { DeliveryRecord, DeliveryStatus, Store } from '../../store/port.ts';
import { problemRef } from '../schemas/common.ts';

const SECRETISH = /authorization|cookie|signature|token|secret|api-key|apikey/i;

const summaryProperties = {
  id: { type: 'string' },
  connectionId: { type: 'string' },
  event: { type: ['string', 'null'] },
  receivedAt: { type: 'string' },
  status: { enum: ['received', 'processed', 'ignored', 'failed'] },
  reason: { type: ['string', 'null'] },
  processedAt: { type: ['string', 'null'] },
} as const;
const summarySchema = { type: 'object', required: Object.keys(summaryProperties), properties: summaryProperties } as const;
const detailSchema = {
  type: 'object',
  required: [...Object.keys(summaryProperties), 'headers', 'body'],
  properties: { ...summaryProperties, dedupeKey: { type: 'string' }, headers: { type: 'object', additionalProperties: { type: 'string' } }, body: { type: 'string' } },
} as const;

const ROLES = ['viewer', 'admin', 'integration'] as const;

function summary(d: DeliveryRecord) {
  return { id: d.id, connectionId: d.connectionId, event: d.event, receivedAt: d.receivedAt, status: d.status, reason: d.reason, processedAt: d.processedAt };
}

/** `pending`: a delivery acknowledged but not yet in the store (the ingest journal's), shown as received. */
export function deliveryRoutes(deps: { store: Store; pending?: (id: string) => Omit<DeliveryRecord, 'status' | 'reason' | 'processedAt'> | null }): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { status?: DeliveryStatus; connectionId?: string; cursor?: string; limit: number } }>('/api/v1/deliveries', {
      config: { roles: ROLES },
      schema: {
        summary: 'Inbound deliveries, newest first, with what became of each',
        tags: ['deliveries'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { enum: ['received', 'processed', 'ignored', 'failed'] },
            connectionId: { type: 'string' },
            cursor: { type: 'string', description: 'the `next` value of the previous page' },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
          },
        },
        response: { 200: { type: 'object', required: ['items', 'next'], properties: { items: { type: 'array', items: summarySchema }, next: { type: ['string', 'null'] } } }, 400: problemRef },
      },
    }, async (request) => {
      const q = request.query;
      const page = await deps.store.deliveries.list({ ...(q.status ? { status: q.status } : {}), ...(q.connectionId ? { connectionId: q.connectionId } : {}) }, { limit: q.limit, cursor: q.cursor ?? null });
      return { items: page.items.map(summary), next: page.next };
    });

    app.get<{ Params: { id: string } }>('/api/v1/deliveries/:id', {
      config: { roles: ROLES },
      schema: {
        summary: 'One delivery with its headers (secrets removed) and body',
        tags: ['deliveries'],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } },
        response: { 200: detailSchema, 404: problemRef },
      },
    }, async (request) => {
      // The journal first, then the store: a delivery committed in between is found in the store.
      const acknowledged = deps.pending?.(request.params.id);
      const d = (await deps.store.deliveries.get(request.params.id)) ?? (acknowledged ? { ...acknowledged, status: 'received' as const, reason: null, processedAt: null } : null);
      if (!d) throw apiError('not-found', `no delivery ${request.params.id}`);
      const headers = Object.fromEntries(Object.entries(d.headers).filter(([k]) => !SECRETISH.test(k)));
      return { ...summary(d), dedupeKey: d.dedupeKey, headers, body: d.body };
    });
  };
}
