// /healthz: the process is up (liveness). /readyz: the store and queue answer and the pipeline reports
// its health (readiness): 503 when the hub cannot do its work, 200 "degraded" when it works around a
// failing connection (S7: outbound updates queue while a circuit is open).
import type { FastifyPluginAsync } from 'fastify';
import type { Queue } from '../../queue/port.ts';
import type { Store } from '../../store/port.ts';
import { anyObject } from '../schemas/common.ts';

export interface HealthDeps {
  store: Store;
  queue: Queue;
  health?: () => Promise<Record<string, unknown>>;
}

const readySchema = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { enum: ['ready', 'degraded', 'not-ready'] },
    checks: {
      type: 'object',
      properties: { store: { type: 'string' }, queue: { type: 'string' }, pipeline: anyObject },
      additionalProperties: true,
    },
  },
} as const;

export function healthRoutes(deps: HealthDeps): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', {
      schema: {
        summary: 'Liveness: the process is up',
        tags: ['operations'],
        response: { 200: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } },
      },
    }, async () => ({ status: 'ok' }));

    app.get('/readyz', {
      schema: { summary: 'Readiness: store, queue and pipeline', tags: ['operations'], response: { 200: readySchema, 503: readySchema } },
    }, async (request, reply) => {
      const checks: Record<string, unknown> = {};
      let ready = true;
      let degraded = false;
      const probe = async (name: 'store' | 'queue', ping: () => Promise<void>) => {
        try {
          await ping();
          checks[name] = 'ok';
        } catch (err) {
          // Driver messages can carry hosts and user names: log them, answer with a fixed text.
          request.log.warn({ err, check: name }, 'readiness check failed');
          checks[name] = 'unreachable';
          ready = false;
        }
      };
      await Promise.all([probe('store', () => deps.store.ping()), probe('queue', () => deps.queue.ping())]);
      if (deps.health) {
        try {
          const h = await deps.health();
          checks.pipeline = h;
          if (h.status === 'degraded') degraded = true;
          if (h.status === 'not-ready' || h.status === 'down') ready = false;
        } catch (err) {
          request.log.warn({ err, check: 'pipeline' }, 'readiness check failed');
          checks.pipeline = { status: 'unreachable' };
          ready = false;
        }
      }
      reply.code(ready ? 200 : 503);
      return { status: !ready ? 'not-ready' : degraded ? 'degraded' : 'ready', checks };
    });
  };
}
