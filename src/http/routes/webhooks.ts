// POST /webhooks/:connection — the HTTP edge of ingest (src/pipeline/ingest.ts does the work).
// The body is taken as raw bytes whatever its content type: signatures are computed over the exact
// bytes sent, and re-serialised JSON would not verify.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Registry } from 'prom-client';
import type {} from '../types.ts';
import { apiError, type ErrorCode } from '../../errors.ts';
import { createIngest, type Ingest, type IngestDeps, type IngestOutcome } from '../../pipeline/ingest.ts';

export type WebhookRouteDeps = IngestDeps & {
  /** An ingest built and started by the caller; when absent the plugin builds one and runs its sweep
   * from the app's ready to its close. */
  ingest?: Ingest;
};

const codeByStatus: Record<Exclude<IngestOutcome, { ok: true }>['status'], ErrorCode> = {
  400: 'bad-json',
  401: 'bad-signature',
  404: 'connection-not-found',
  413: 'payload-too-large',
  429: 'rate-limited',
  503: 'unavailable',
};

function headersOf(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export function webhookRoutes(deps: WebhookRouteDeps): FastifyPluginAsync {
  return async (app) => {
    // The app's /metrics registry, when the metrics plugin shares it as `app.metrics`.
    const shared = (app as unknown as { metrics?: unknown }).metrics;
    const ingest = deps.ingest ?? createIngest({ ...deps, metrics: deps.metrics ?? (shared instanceof Registry ? shared : undefined) });
    const now = deps.now ?? (() => new Date());
    if (!deps.ingest) {
      app.addHook('onReady', () => ingest.start());
      app.addHook('onClose', () => ingest.stop());
    }

    // Encapsulated: only this plugin's routes take raw bytes.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
      const raw = typeof body === 'string' ? Buffer.from(body) : body;
      req.rawBody = raw;
      done(null, raw);
    });

    // The body limit is enforced while reading, before the handler: count those refusals here.
    app.addHook('onError', async (req, _reply, err) => {
      const code = (err as { code?: string }).code;
      const connection = (req.params as { connection?: string } | undefined)?.connection ?? 'unknown';
      if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') ingest.countRejection(connection, 'too-large');
    });

    app.post<{ Params: { connection: string } }>(
      '/webhooks/:connection',
      {
        bodyLimit: deps.config.server.bodyLimitBytes,
        schema: {
          summary: 'Receive a webhook delivery',
          description:
            'Verifies the signature on the raw body with the connection\'s connector, stores the delivery durably, then answers 202. ' +
            'A delivery seen before (same sender delivery id, or same body) is answered 202 with duplicate: true and stored once. ' +
            'When the hub is at capacity it answers 429 with Retry-After at once.',
          tags: ['webhooks'],
          params: {
            type: 'object',
            properties: { connection: { type: 'string', minLength: 1, maxLength: 200, description: 'Connection id from hub.yaml' } },
            required: ['connection'],
          },
          response: {
            202: {
              type: 'object',
              properties: { deliveryId: { type: 'string' }, duplicate: { type: 'boolean' } },
              required: ['deliveryId', 'duplicate'],
            },
          },
        },
      },
      async (req, reply) => {
        const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const outcome = await ingest.receive(req.params.connection, { rawBody, headers: headersOf(req), receivedAt: now() });
        if (!outcome.ok) {
          const headers: Record<string, string> = outcome.retryAfterSeconds === undefined ? {} : { 'retry-after': String(outcome.retryAfterSeconds) };
          throw apiError(codeByStatus[outcome.status], outcome.detail, { headers, extra: { reason: outcome.reason } });
        }
        return reply.code(202).send({ deliveryId: outcome.deliveryId, duplicate: outcome.duplicate });
      },
    );
  };
}
