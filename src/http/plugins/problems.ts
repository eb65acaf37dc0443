// Errors as RFC 9457 problem JSON: one error handler for everything a route throws, a 404 handler for
// unknown routes, and the body parser (raw bytes kept for signature checks, JSON parsed with clear 400s).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, apiError, problemBody } from '../../errors.ts';

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\b/i;

export function sendProblem(reply: FastifyReply, err: ApiError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
  // A string payload skips the route's response serializer: the problem body goes out as built.
  return reply.code(err.status).type('application/problem+json').send(JSON.stringify(problemBody(err, reply.request.url)));
}

export function installProblems(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  // Every body is read as bytes first: webhook signatures (GitHub, ServiceNow, Jira …) are HMACs over the
  // exact bytes sent, which re-serialised JSON would not reproduce.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request: FastifyRequest, body: string | Buffer, done) => {
    const raw = typeof body === 'string' ? Buffer.from(body) : body;
    request.rawBody = raw;
    const type = request.headers['content-type'] ?? '';
    // No route matched: the answer is a 404 whatever the body says, so it is not parsed.
    if (request.routeOptions.url === undefined) return done(null, raw);
    // The API speaks JSON only: a form or text body would otherwise look like an empty object and be
    // refused for a missing field, which misleads. Webhook routes read the raw bytes and judge themselves.
    if (!JSON_TYPE.test(type) && raw.length > 0 && request.routeOptions.url.startsWith('/api/')) {
      return done(apiError('unsupported-media-type', `send the body as application/json, not "${type.slice(0, 100) || 'no content type'}"`));
    }
    if (!JSON_TYPE.test(type)) return done(null, raw);
    if (raw.length === 0) return done(null, undefined);
    try {
      const text = raw.toString('utf8');
      // Prototype poisoning: a "__proto__" key would be harmless here but dangerous in a later merge.
      done(null, text.includes('"__proto__"')
        ? JSON.parse(text, (k, v) => { if (k === '__proto__') throw new SyntaxError('a "__proto__" key is not accepted'); return v; })
        : JSON.parse(text));
    } catch (err) {
      done(apiError('bad-json', `the body is not valid JSON: ${(err as Error).message}`));
    }
  });

  app.setNotFoundHandler((request, reply) => {
    sendProblem(reply, apiError('not-found', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  app.setErrorHandler((error: FastifyError | ApiError | Error, request, reply) => {
    const problem = toApiError(error);
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: problem.code, detail: problem.detail }, 'request refused');
    sendProblem(reply, problem);
  });
}

// What to change when a sender's bodies are legitimately bigger.
const tooLarge = 'the body is larger than server.bodyLimit in hub.yaml (1mb unless set)';

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const e = error as FastifyError & { validation?: { instancePath: string; keyword: string; params: Record<string, unknown>; message?: string }[]; validationContext?: string };
  if (e.validation && e.validation.length > 0) {
    const v = e.validation[0]!;
    let field = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
    if (v.keyword === 'required') field = [field, String(v.params.missingProperty)].filter(Boolean).join('.');
    if (v.keyword === 'additionalProperties') field = [field, String(v.params.additionalProperty)].filter(Boolean).join('.');
    const where = e.validationContext ?? 'request';
    const reason = v.keyword === 'additionalProperties' ? 'is not a known field'
      : v.keyword === 'required' ? 'is required'
      // Ajv says "must be equal to one of the allowed values" without saying which: name them.
      : v.keyword === 'enum' && Array.isArray(v.params.allowedValues) ? `must be one of ${v.params.allowedValues.join(', ')}`
      : (v.message ?? 'is not valid');
    return apiError('validation-failed', field ? `${where} field "${field}" ${reason}` : `${where} ${reason}`, { extra: { field: field || null, in: where } });
  }
  // Errors the store port defines for caller mistakes (bad cursor, bad limit) and unique-key races. A
  // cursor and a limit only ever come from a list route's query string: they are validation failures of
  // that field, with the members every other validation failure has.
  if (e.name === 'StoreInputError') {
    const paging = /^(cursor|limit): (.*)$/s.exec(e.message);
    if (paging) {
      const [, field, reason] = paging as unknown as [string, string, string];
      return apiError('validation-failed', `querystring field "${field}" ${reason.startsWith('not ') ? `is ${reason}` : reason}`, { extra: { field, in: 'querystring' } });
    }
    return apiError('bad-request', e.message);
  }
  if (e.name === 'StoreConflictError') return apiError('conflict', e.message);
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return apiError('payload-too-large', tooLarge);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return apiError('unsupported-media-type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return apiError('bad-json');
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status === 413) return apiError('payload-too-large', tooLarge);
  if (status === 404) return apiError('not-found');
  if (status === 405) return apiError('method-not-allowed');
  if (status === 429) return apiError('rate-limited');
  if (status >= 400 && status < 500) return apiError('bad-request', e.message);
  return apiError(status === 503 ? 'unavailable' : 'internal');
}
