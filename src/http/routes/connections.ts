// GET /api/v1/connections: what hub.yaml configures (never its secrets) merged with what the pipeline
// reports per connection (circuit state, queue depth, last sync).
import type { FastifyPluginAsync } from 'fastify';
import type { HubConfig } from '../../config/types.ts';
import { READERS } from '../plugins/auth.ts';
import { anyObject } from '../schemas/common.ts';

export function connectionRoutes(deps: { config: HubConfig; health?: () => Promise<Record<string, unknown>> }): FastifyPluginAsync {
  return async (app) => {
    app.get('/api/v1/connections', {
      config: { roles: READERS },
      schema: {
        summary: 'Configured connections and their health',
        tags: ['connections'],
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: {
              queue: { ...anyObject, description: 'Jobs waiting, running and dead per kind (all connections)' },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'connector', 'webhookUrl', 'health'],
                  properties: {
                    id: { type: 'string' },
                    connector: { type: 'string' },
                    baseUrl: { type: ['string', 'null'] },
                    webhookUrl: { type: 'string' },
                    mappings: { type: 'object', additionalProperties: { type: 'string' } },
                    reconcile: { type: ['object', 'null'], properties: { cron: { type: 'string' } } },
                    rateLimit: { type: ['object', 'null'], properties: { perSecond: { type: 'number' } } },
                    health: anyObject,
                  },
                },
              },
            },
          },
        },
      },
    }, async (request) => {
      let perConnection: Record<string, unknown> = {};
      let queue: unknown;
      if (deps.health) {
        try {
          const h = await deps.health();
          if (typeof h.connections === 'object' && h.connections !== null) perConnection = h.connections as Record<string, unknown>;
          queue = h.queue;
        } catch (err) {
          request.log.warn({ err }, 'pipeline health failed');
        }
      }
      return {
        ...(typeof queue === 'object' && queue !== null ? { queue } : {}),
        items: deps.config.connections.map((c) => {
          const h = perConnection[c.id];
          return {
            id: c.id,
            connector: c.connector,
            baseUrl: c.baseUrl,
            webhookUrl: `${deps.config.publicUrl}/webhooks/${c.id}`,
            mappings: c.mappings,
            reconcile: c.reconcile,
            rateLimit: c.rateLimit,
            health: typeof h === 'object' && h !== null ? h : { status: 'unknown' },
          };
        }),
      };
    });
  };
}
