// What every fake vendor server shares: a node:http server on 127.0.0.1 (port 0), a small router,
// a recorder of every call (with the time it arrived), and the failure controls end-to-end tests use
// (`failNext`, `rateLimit`). Each vendor fake (servicenow.ts, github.ts, jira.ts) adds its own auth,
// routes, error bodies and in-memory state on top, strict about the documented contracts.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  /** Lower-case header names. */
  headers: Record<string, string>;
  rawBody: string;
  /** Parsed JSON body, or null when there is none or it is not JSON. */
  body: unknown;
  /** ms since the epoch, from the fake's clock, when the call arrived. */
  at: number;
  /** Status the fake answered with. */
  status: number;
}

export interface FakeRequest extends Omit<RecordedCall, 'status'> {
  params: Record<string, string>;
  /** Set by the vendor's authenticate step: who is calling. */
  caller: string | null;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings as they are; undefined for no body (204). */
  body?: unknown;
}

export type RouteHandler = (req: FakeRequest) => FakeResponse | Promise<FakeResponse>;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: RouteHandler;
}

export interface FakeVendor {
  /** Error body in the vendor's shape. */
  errorBody(status: number, message: string): unknown;
  /** The vendor's answer while rate limited: status, headers (with the given wait) and body. */
  rateLimited(waitMs: number, nowMs: number): FakeResponse;
  /** Checks credentials: the caller's name, or a 401/403 response. Runs before routing. */
  authenticate(req: FakeRequest): string | FakeResponse;
  /** Adds headers every answer carries (e.g. GitHub's x-ratelimit-*). */
  decorate?(req: FakeRequest, res: FakeResponse): FakeResponse;
}

export interface FakeBase {
  /** http://127.0.0.1:<port> */
  url: string;
  calls: RecordedCall[];
  close(): Promise<void>;
  /** The next `n` calls (any route) answer `status` with the vendor's error body and these headers. */
  failNext(n: number, status: number, headers?: Record<string, string>, body?: unknown): void;
  /** Every call answers the vendor's rate-limit response until `retryAfterSeconds` from now (0 clears it). */
  rateLimit(retryAfterSeconds: number): void;
  /** Calls that reached a route, excluding those refused by failNext/rateLimit. */
  callsTo(method: string, pathPattern: RegExp): RecordedCall[];
}

export interface FakeOptions {
  now?: () => number;
}

export function sendJson(res: ServerResponse, r: FakeResponse): void {
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
  let payload: string | undefined;
  if (r.body !== undefined && r.body !== null) {
    if (typeof r.body === 'string') payload = r.body;
    else {
      payload = JSON.stringify(r.body);
      headers['content-type'] ??= 'application/json;charset=UTF-8';
    }
  }
  res.writeHead(r.status, headers);
  res.end(payload);
}

function compile(path: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:(\w+)/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { pattern: new RegExp(`^${source}$`), names };
}

export class Router {
  routes: Route[] = [];
  on(method: string, path: string, handler: RouteHandler): this {
    const { pattern, names } = compile(path);
    this.routes.push({ method, pattern, names, handler });
    return this;
  }
  match(method: string, path: string): { handler: RouteHandler; params: Record<string, string> } | 'method-not-allowed' | null {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== method) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1]!);
      });
      return { handler: r.handler, params };
    }
    return pathMatched ? 'method-not-allowed' : null;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts a fake on 127.0.0.1:0 with the vendor's auth, errors and rate-limit answer around `router`. */
export async function startFakeServer(vendor: FakeVendor, router: Router, opts: FakeOptions = {}): Promise<FakeBase> {
  const now = opts.now ?? Date.now;
  const calls: RecordedCall[] = [];
  const routed = new Set<RecordedCall>();
  const failures: { status: number; headers: Record<string, string>; body: unknown }[] = [];
  let limitedUntil = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rawBody = await readBody(req);
    let body: unknown = null;
    if (rawBody) {
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = null;
      }
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const call: RecordedCall = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers, rawBody, body, at: now(), status: 0 };
    calls.push(call);
    const answer = (r: FakeResponse) => {
      call.status = r.status;
      sendJson(res, r);
    };

    const failure = failures.shift();
    if (failure) {
      return answer({ status: failure.status, headers: failure.headers, body: failure.body ?? vendor.errorBody(failure.status, `injected failure ${failure.status}`) });
    }
    if (limitedUntil > call.at) return answer(vendor.rateLimited(limitedUntil - call.at, call.at));

    const freq: FakeRequest = { ...call, params: {}, caller: null };
    const decorate = (r: FakeResponse) => (vendor.decorate ? vendor.decorate(freq, r) : r);
    const auth = vendor.authenticate(freq);
    if (typeof auth !== 'string') return answer(decorate(auth));
    freq.caller = auth;
    const found = router.match(call.method, call.path);
    if (found === null) return answer(decorate({ status: 404, body: vendor.errorBody(404, `no such resource: ${call.method} ${call.path}`) }));
    if (found === 'method-not-allowed') return answer(decorate({ status: 405, body: vendor.errorBody(405, `method ${call.method} is not allowed on ${call.path}`) }));
    freq.params = found.params;
    routed.add(call);
    answer(decorate(await found.handler(freq)));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A bug in the fake must show in the test output, not as a hung request.
      if (!res.headersSent) sendJson(res, { status: 500, body: vendor.errorBody(500, `fake server bug: ${(err as Error).stack ?? String(err)}`) });
      else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    failNext(n, status, headers = {}, body) {
      for (let i = 0; i < n; i++) failures.push({ status, headers, body });
    },
    rateLimit(retryAfterSeconds) {
      limitedUntil = retryAfterSeconds > 0 ? now() + retryAfterSeconds * 1000 : 0;
    },
    callsTo(method, pathPattern) {
      return calls.filter((c) => routed.has(c) && c.method === method && pathPattern.test(c.path));
    },
  };
}

/** Basic credentials from an Authorization header, or null. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  if (!header || !/^Basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? null : { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

/** Bearer (or GitHub's legacy "token") credential from an Authorization header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^(?:Bearer|token)\s+(\S+)$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

export function hmacSha256Hex(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** POSTs a webhook delivery the way the vendor does and returns what the receiver answered. */
export async function deliver(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, body: await res.text() };
}
