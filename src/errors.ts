// The one error catalogue of the HTTP API. Each error is declared once with its code, status and title;
// the error handler (src/http/plugins/problems.ts) turns them into RFC 9457 problem JSON. Route plugins
// throw `apiError('change-not-found', 'no change chg_123')` instead of building replies by hand.

export const ERRORS = {
  'bad-request': { status: 400, title: 'The request is not valid' },
  'bad-json': { status: 400, title: 'The body is not valid JSON' },
  'validation-failed': { status: 400, title: 'A field of the request is not valid' },
  'unauthorized': { status: 401, title: 'Authentication is required' },
  'invalid-token': { status: 401, title: 'The bearer token is not valid' },
  'token-revoked': { status: 401, title: 'The bearer token was revoked' },
  'bad-signature': { status: 401, title: 'The delivery signature does not verify' },
  'forbidden': { status: 403, title: 'The token\'s roles do not allow this' },
  'not-found': { status: 404, title: 'Not found' },
  'change-not-found': { status: 404, title: 'No such change' },
  'connection-not-found': { status: 404, title: 'No such connection' },
  'conflict-not-found': { status: 404, title: 'No such conflict' },
  'gate-not-found': { status: 404, title: 'No such gate' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'conflict': { status: 409, title: 'The request conflicts with the current state' },
  'payload-too-large': { status: 413, title: 'The body is larger than the configured limit' },
  'unsupported-media-type': { status: 415, title: 'Unsupported content type' },
  'unprocessable': { status: 422, title: 'The request cannot be applied' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'internal': { status: 500, title: 'Internal error' },
  'unavailable': { status: 503, title: 'The hub is not ready' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error a client can act on. `detail` is shown to the client, so it must never carry secrets or
 * internals; 5xx details are replaced by a generic text anyway. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  /** Extra members of the problem body (e.g. { field: 'state' }). */
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;
  constructor(code: ErrorCode, detail?: string, opts: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    const entry = ERRORS[code];
    // A 4xx is an answer, not a fault: no stack to capture (capturing it was ~20 µs of every 429 a hub
    // under overload sends, thousands a second). A 5xx keeps its stack for the log.
    const stackTraceLimit = Error.stackTraceLimit;
    if (entry.status < 500) Error.stackTraceLimit = 0;
    try {
      super(detail ?? entry.title);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.code = code;
    this.status = entry.status;
    this.title = entry.title;
    this.detail = detail ?? entry.title;
    this.extra = opts.extra ?? {};
    this.headers = opts.headers ?? {};
  }
}

export function apiError(code: ErrorCode, detail?: string, opts?: { extra?: Record<string, unknown>; headers?: Record<string, string> }): ApiError {
  return new ApiError(code, detail, opts);
}

/** RFC 9457 body. `type` is a URN naming the catalogue entry (stable, dereferenced in README's API section). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  [extra: string]: unknown;
}

export function problemBody(err: ApiError, instance?: string): Problem {
  const hidden = err.status >= 500;
  return {
    ...(hidden ? {} : err.extra),
    type: `urn:approval-hub:problem:${err.code}`,
    title: err.title,
    status: err.status,
    detail: hidden ? 'The hub could not handle this request; the error is logged with the request id.' : err.detail,
    code: err.code,
    ...(instance ? { instance } : {}),
  };
}
