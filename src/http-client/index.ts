// The one outbound HTTP client stack: auth, JSON, SSRF guard, per-connection rate limit (Bottleneck),
// circuit breaker, retries with p-retry honouring the vendor's Retry-After / reset headers, and the one
// pager. Connectors get it as ctx.http and never call fetch themselves.
import pRetry, { AbortError } from 'p-retry';
import type { ConnectionSettings, HttpClient, HttpRequest, HttpResponse, Logger, PageOptions, VendorFacts } from '../sdk/index.ts';
import { HttpError } from '../sdk/index.ts';
import { createAuth } from './auth.ts';
import { createCircuitBreaker, type CircuitBreaker } from './circuit-breaker.ts';
import { paginate } from './pager.ts';
import type { RateLimiter } from './rate-limiter.ts';
import { createRateLimiter } from './rate-limiter.ts';
import { budgetResetMs, retryTiming } from './retry-timing.ts';
import { buildUrl } from './url.ts';
import { vendorErrorMessage } from './vendor-error.ts';

export { AuthConfigError } from './auth.ts';
export { CircuitOpenError, circuitMemory, circuitMemoryBytes, createCircuitBreaker } from './circuit-breaker.ts';
export type { CircuitBreaker, CircuitBreakerOptions, CircuitSnapshot, CircuitState } from './circuit-breaker.ts';
export { nextLink, PagingLoopError } from './pager.ts';
export { createRateLimiter } from './rate-limiter.ts';
export type { RateLimiter, RateLimiterOptions } from './rate-limiter.ts';
export { parseResetAt, parseRetryAfter } from './retry-timing.ts';
export { RefusedUrlError } from './url.ts';
export { vendorErrorMessage } from './vendor-error.ts';

export interface HttpClientOptions {
  connection: ConnectionSettings;
  vendor: VendorFacts;
  log: Logger;
  /** Connector-provided auth headers (GitHub App installation token); otherwise from connection.auth. */
  authHeaders?: () => Promise<Record<string, string>>;
  /** The connector's "a 401 came: drop the cached token" (ConnectionAuth.invalidate); one retry follows. */
  authInvalidate?: () => boolean;
  /** The connection's limiter (src/pipeline/connections.ts builds one per connection, in Redis when the
   * queue is); default: an in-process limiter from connection.rateLimit. */
  limiter?: RateLimiter;
  /** The connection's breaker, whose snapshot() health reports; default: one owned by this client. */
  breaker?: CircuitBreaker;
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Backoff when the vendor says nothing about when to retry. */
  retry?: { retries: number; minMs: number; maxMs: number };
  /** A vendor-requested wait longer than this is not slept: HttpError with retryAfterMs goes to the queue. */
  maxWaitMs?: number;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  maxPages?: number;
}

/** An attempt that may be retried; carries the HttpError to throw if it is the last. */
class RetryableFailure extends Error {
  readonly final: HttpError;
  readonly waitMs: number | null;
  readonly countRetry: boolean;
  constructor(final: HttpError, waitMs: number | null, countRetry = true) {
    super(final.message);
    this.final = final;
    this.waitMs = waitMs;
    this.countRetry = countRetry;
  }
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether the client may send a request again after a 5xx or a lost answer (see HttpRequest.idempotent). */
function resendable(req: HttpRequest): boolean {
  return req.idempotent ?? req.method !== 'POST';
}

function parseBody(text: string, contentType: string): unknown {
  if (text === '') return null;
  if (/json/i.test(contentType) || /^[[{]/.test(text.trimStart())) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

export function createHttpClient(opts: HttpClientOptions): HttpClient {
  const { connection, vendor, log } = opts;
  const doFetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? defaultSleep;
  const retry = opts.retry ?? { retries: 4, minMs: 500, maxMs: 20_000 };
  const maxWaitMs = opts.maxWaitMs ?? 30_000;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxPages = opts.maxPages ?? 1000;
  const breaker = opts.breaker ?? createCircuitBreaker({ now });
  const limiter =
    opts.limiter ?? (connection.rateLimit ? createRateLimiter({ id: connection.id, perSecond: connection.rateLimit.perSecond }) : null);
  const auth = createAuth({
    connection,
    fetch: doFetch,
    now,
    ...(opts.authHeaders ? { authHeaders: opts.authHeaders } : {}),
    ...(opts.authInvalidate ? { authInvalidate: opts.authInvalidate } : {}),
  });
  const who = `connection "${connection.id}"`;
  /** No call before this time: set by Retry-After / reset headers, shared by every request of the client. */
  let notBefore = 0;

  async function waitForBudget(method: string, path: string): Promise<void> {
    // A loop, not one sleep: a timer may fire a millisecond early, and another 429 may move the time on.
    for (let wait = notBefore - now(); wait > 0; wait = notBefore - now()) {
      if (wait > maxWaitMs) {
        throw new HttpError(
          `${who}: ${method} ${path} not sent: the vendor asked to wait until ${new Date(notBefore).toISOString()}`,
          429,
          null,
          wait,
        );
      }
      await sleep(wait);
    }
  }

  async function attempt(req: HttpRequest, url: URL): Promise<HttpResponse> {
    const path = url.pathname;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'approval-hub' };
    let body: string | Buffer | undefined;
    if (req.body !== undefined && req.body !== null) {
      if (typeof req.body === 'string' || Buffer.isBuffer(req.body)) body = req.body;
      else {
        body = JSON.stringify(req.body);
        headers['content-type'] = 'application/json';
      }
    }
    // Fail fast while the circuit is open, before even asking for a token.
    breaker.beforeCall(connection.id);
    try {
      Object.assign(headers, await auth.headers());
    } catch (err) {
      // A token endpoint that is down is an outage like any other; refused credentials are final.
      if (err instanceof HttpError && (err.status === 0 || err.status >= 500)) {
        breaker.onFailure(err.message);
        throw new RetryableFailure(err, null);
      }
      breaker.onNeutral();
      throw err instanceof HttpError ? new AbortError(err) : err;
    }
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;

    let res: Response;
    let text: string;
    try {
      res = await doFetch(url, { method: req.method, headers, body: body ?? null, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
      text = await res.text();
    } catch (err) {
      const reason = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
      breaker.onFailure(reason);
      // status 0: no HTTP answer at all (connection refused, DNS, timeout).
      const lost = new HttpError(`${who}: ${req.method} ${path} got no response (${reason})`, 0, null);
      if (!resendable(req)) throw new AbortError(lost);
      throw new RetryableFailure(lost, null);
    }
    const resHeaders: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      resHeaders[k] = v;
    });
    const parsed = parseBody(text, res.headers.get('content-type') ?? '');
    const t = now();
    const reset = budgetResetMs(res.headers, vendor, t);
    if (reset !== null && reset > 0) notBefore = Math.max(notBefore, t + reset);

    if (res.status >= 200 && res.status < 300) {
      // Azure DevOps answers a bad PAT with 203 and an HTML sign-in page instead of 401. It is reported
      // as the 401 it means, so callers that tell refused credentials from outages (the queue makes a 4xx
      // final, the connection test says "credentials refused") treat it as one; the message keeps the 203.
      if (res.status === 203 && typeof parsed === 'string') {
        breaker.onNeutral();
        throw new AbortError(new HttpError(`${who}: ${req.method} ${path} answered 203 with a sign-in page: the credentials were not accepted`, 401, null));
      }
      breaker.onSuccess();
      return { status: res.status, headers: resHeaders, body: parsed };
    }

    const said = vendorErrorMessage(parsed);
    const message = `${who}: ${req.method} ${path} answered ${res.status}${said ? `: ${said}` : ''}`;
    const timing = retryTiming(res.status, res.headers, vendor, t, said);
    if (timing.rateLimited || res.status >= 500) {
      if (res.status >= 500) breaker.onFailure(`${res.status}${said ? ` ${said}` : ''}`);
      else breaker.onNeutral();
      if (timing.waitMs !== null) notBefore = Math.max(notBefore, t + timing.waitMs);
      const failed = new HttpError(message, res.status, parsed, timing.waitMs);
      // A rate limit refused the request unapplied; a 5xx may come after the vendor applied it.
      if (!timing.rateLimited && !resendable(req)) throw new AbortError(failed);
      throw new RetryableFailure(failed, timing.waitMs);
    }
    breaker.onNeutral();
    if (res.status === 401 && auth.invalidate()) {
      // A cached OAuth or installation token was revoked or expired early: fetch a new one once.
      throw new RetryableFailure(new HttpError(message, res.status, parsed), 0, false);
    }
    throw new AbortError(new HttpError(message, res.status, parsed));
  }

  async function request<T>(req: HttpRequest): Promise<HttpResponse<T>> {
    const url = buildUrl(connection.baseUrl, req, connection.id);
    let authRefreshed = false;
    try {
      return (await pRetry(
        async () => {
          await waitForBudget(req.method, url.pathname);
          // An open circuit fails fast without waiting for a rate-limit slot first.
          if (breaker.state() === 'open') breaker.beforeCall(connection.id);
          return limiter ? limiter.schedule(() => attempt(req, url)) : attempt(req, url);
        },
        {
          retries: retry.retries,
          minTimeout: retry.minMs,
          maxTimeout: retry.maxMs,
          factor: 2,
          randomize: true,
          shouldConsumeRetry: ({ error }) => !(error instanceof RetryableFailure && !error.countRetry),
          shouldRetry: ({ error }) => {
            if (!(error instanceof RetryableFailure)) return false;
            if (!error.countRetry) {
              if (authRefreshed) return false;
              authRefreshed = true;
            }
            return true;
          },
          onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
            if (!(error instanceof RetryableFailure)) return;
            const wait = error.waitMs;
            if (wait !== null && wait > maxWaitMs) {
              // Too long to hold a worker: hand it back to the queue with the time to come back.
              throw new HttpError(error.final.message, error.final.status, error.final.body, wait);
            }
            if (retriesLeft > 0) {
              log.warn(
                { connection: connection.id, method: req.method, path: url.pathname, status: error.final.status, attempt: attemptNumber, waitMs: wait },
                'vendor call failed; retrying',
              );
            }
          },
        },
      )) as HttpResponse<T>;
    } catch (err) {
      if (err instanceof RetryableFailure) throw err.final;
      throw err;
    }
  }

  return {
    request,
    paginate<T>(req: HttpRequest, itemsOf: (body: unknown) => T[], opts?: PageOptions): AsyncIterable<T[]> {
      return paginate(request, opts?.pagination ?? vendor.pagination, req, itemsOf, { maxPages, connectionId: connection.id });
    },
  };
}
