// When may the next call go out? Reads the vendor's "retry after" and "reset at" headers (named in the
// connector's VendorFacts) and decides which responses are rate limits rather than final errors.
import type { VendorFacts } from '../sdk/index.ts';

/** Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Returns ms from now. */
export function parseRetryAfter(value: string, nowMs: number): number | null {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

/** A reset header is an epoch (seconds: GitHub, ServiceNow, ADO, GitLab; ms if that large), an ISO time
 * (Jira), or small delta-seconds (PagerDuty's ratelimit-reset). Returns ms from now. */
export function parseResetAt(value: string, nowMs: number): number | null {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    if (n > 1e12) return Math.max(0, n - nowMs);
    if (n > 1e9) return Math.max(0, n * 1000 - nowMs);
    return Math.ceil(n * 1000);
  }
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

function header(headers: Headers, names: string[]): string | null {
  for (const n of names) {
    const v = headers.get(n);
    if (v !== null && v !== '') return v;
  }
  return null;
}

/** Remaining budget as the vendor states it; GitHub/ADO say x-ratelimit-remaining, PagerDuty/GitLab ratelimit-remaining. */
function remaining(headers: Headers): number | null {
  const v = header(headers, ['x-ratelimit-remaining', 'ratelimit-remaining']);
  return v === null ? null : Number(v);
}

export interface RetryTiming {
  /** The response is a rate limit (retry later), not a final refusal. */
  rateLimited: boolean;
  /** How long the vendor asked us to wait, if it said; null → use backoff. */
  waitMs: number | null;
}

/** Reads a response's headers (and the vendor's error message, for a limit only the words tell). Only a
 * rate limit, a 503 or an exhausted budget makes the reset time binding. */
export function retryTiming(status: number, headers: Headers, vendor: VendorFacts, nowMs: number, message: string | null = null): RetryTiming {
  const retryAfter = header(headers, vendor.retryAfterHeaders);
  const resetRaw = header(headers, vendor.rateLimitResetHeaders);
  const exhausted = remaining(headers) === 0;
  const untimed = vendor.rateLimitWithoutTime;
  const said = message?.toLowerCase() ?? '';
  const saysRateLimit = untimed !== undefined && untimed.messages.some((m) => said.includes(m.toLowerCase()));
  // GitHub answers a primary rate limit with 403 (or 429) and x-ratelimit-remaining: 0, a secondary one
  // with 403 (or 429) and retry-after, or only its message. A 403 without any of these is a real
  // permission error.
  const rateLimited = status === 429 || (status === 403 && (exhausted || retryAfter !== null || saysRateLimit));
  let waitMs: number | null = null;
  if (retryAfter !== null) waitMs = parseRetryAfter(retryAfter, nowMs);
  // GitHub's x-ratelimit-reset is the primary window's end: binding only when that budget is spent.
  if (waitMs === null && resetRaw !== null && ((status === 429 && !untimed) || exhausted)) waitMs = parseResetAt(resetRaw, nowMs);
  if (waitMs === null && status === 503 && retryAfter !== null) waitMs = parseRetryAfter(retryAfter, nowMs);
  // GitHub: with neither header, "wait for at least one minute before retrying".
  if (waitMs === null && rateLimited && untimed) waitMs = untimed.waitMs;
  return { rateLimited, waitMs };
}

/** After any response (even a 200): when the budget is spent, the next call must wait for the reset. */
export function budgetResetMs(headers: Headers, vendor: VendorFacts, nowMs: number): number | null {
  if (remaining(headers) !== 0) return null;
  const resetRaw = header(headers, vendor.rateLimitResetHeaders);
  return resetRaw === null ? null : parseResetAt(resetRaw, nowMs);
}
