// POST /webhooks/:connection — the HTTP edge of ingest (src/pipeline/ingest.ts does the work).
// The body is taken as raw bytes whatever its content type: signatures are computed over the exact
// bytes sent, and re-serialised JSON would not verify.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Registry } from 'prom-client';
import type {} from '../types.ts';
import { apiError, type ApiError, type ErrorCode } from '../../errors.ts';
import { createIngest, type Ingest, type IngestDeps, type IngestRefusal } from '../../pipeline/ingest.ts';
import { sendProblem } from '../plugins/problems.ts';
import { problemRef } from '../schemas/common.ts';

export type WebhookRouteDeps = IngestDeps & {
  /** An ingest built and started by the caller; when absent the plugin builds one and runs its sweep
   * from the app's ready to its close. */
  ingest?: Ingest;
};

const codeByStatus: Record<IngestRefusal['status'], ErrorCode> = {
  400: 'bad-json',
  401: 'bad-signature',
  404: 'connection-not-found',
  413: 'payload-too-large',
  429: 'rate-limited',
  503: 'unavailable',
};

function refusalError(refusal: IngestRefusal): ApiError {
  const headers: Record<string, string> = refusal.retryAfterSeconds === undefined ? {} : { 'retry-after': String(refusal.retryAfterSeconds) };
  return apiError(codeByStatus[refusal.status], refusal.detail, { headers, extra: { reason: refusal.reason } });
}

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
        // At capacity, the 429 goes out before the body is read: under a flood, refusing is most of what
        // the hub does, and a refusal that reads, parses and verifies costs as much as an acceptance.
        onRequest: async (req, reply) => {
          const refusal = ingest.admit(req.params.connection);
          if (refusal) return sendProblem(reply, refusalError(refusal));
        },
        schema: {
          summary: 'Receive a webhook delivery',
          description:
            'Verifies the signature on the raw body with the connection\'s connector, stores the delivery durably, then answers 202. ' +
            'A delivery seen before (same sender delivery id, or same body) is answered 202 with duplicate: true and stored once. ' +
            'When the hub is at capacity it answers 429 with Retry-After at once (503 to a sender that disables a hook answering 4xx, GitLab).',
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
            // Refusals (problem bodies with `reason`, the hub_webhook_rejections_total label).
            400: { ...problemRef, description: 'The body is not JSON (reason unparsable)' },
            401: { ...problemRef, description: 'The signature or credentials do not verify (reason bad-signature)' },
            404: { ...problemRef, description: 'No such connection, or its connector receives no webhooks' },
            413: { ...problemRef, description: 'The body is over server.bodyLimit' },
            429: { ...problemRef, description: 'The hub is at capacity: retry after Retry-After seconds' },
            503: { ...problemRef, description: 'At capacity, to GitLab (Retry-After), or the store is unavailable' },
          },
        },
      },
      async (req, reply) => {
        const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const outcome = await ingest.receive(req.params.connection, { rawBody, headers: headersOf(req), receivedAt: now() });
        if (!outcome.ok) throw refusalError(outcome);
        return reply.code(202).send({ deliveryId: outcome.deliveryId, duplicate: outcome.duplicate });
      },
    );
  };
}
