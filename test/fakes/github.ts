// Fake GitHub API for a GitHub App: installation tokens from an RS256 app JWT, the custom deployment
// protection rule callback, the pre-approval reads (reviews, check runs, combined status, code scanning
// alerts), webhook deliveries and redelivery, with GitHub's error bodies, x-ratelimit-* headers and Link
// paging (`; rel="next"`, with a space). A helper signs and sends deployment_protection_rule webhooks
// whose deployment_callback_url points back at this fake.
import { createHmac, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bearerToken, hmacSha256Hex, Router, startFakeServer, type FakeBase, type FakeRequest, type FakeResponse, type RouteHandler } from './fake-server.ts';

const DOCS = 'https://docs.github.com/rest';
/** REST API versions the fake serves (X-GitHub-Api-Version). */
const API_VERSIONS = ['2022-11-28'];
const ghError = (status: number, message: string) => ({ message, documentation_url: DOCS, status: String(status) });

export interface Installation {
  id: number;
  account: string;
  repositories: string[];
  /** What the App was granted there (GitHub's permission names); default: what the connector's README asks for. */
  permissions?: Record<string, 'read' | 'write'>;
}

const DEFAULT_PERMISSIONS: Record<string, 'read' | 'write'> = {
  actions: 'read',
  checks: 'read',
  deployments: 'write',
  metadata: 'read',
  pull_requests: 'read',
  statuses: 'read',
  security_events: 'read',
};

/** A run waiting on the App's protection rule for one environment. Undecided for 30 days, it times out. */
export interface Gate {
  environment: string;
  state: 'pending' | 'approved' | 'rejected' | 'timed_out';
  installationId: number;
  /** When the rule was requested (ms, the fake's clock). */
  requestedAt: number;
}

export interface FakeGitHubOptions {
  appId?: number;
  /** PEM of the app's private key; default: a fresh RSA key (see `privateKey`). */
  privateKey?: string;
  installations?: Installation[];
  /** Authenticated calls allowed per hour (x-ratelimit-limit); default 5000. */
  rateLimitPerHour?: number;
  /** How long a webhook delivery waits for the receiver's answer before it fails (GitHub: 10 s). */
  deliveryTimeoutMs?: number;
  /** GitHub answers a primary rate limit with 403 or 429 (both documented); default 403. */
  rateLimitStatus?: 403 | 429;
  now?: () => number;
}

export interface GateDecision {
  owner: string;
  repo: string;
  runId: number;
  environment_name: string;
  state: 'approved' | 'rejected' | null;
  comment: string | null;
  installationId: number;
  at: number;
}

export interface Review {
  id: number;
  user: { login: string; id: number; type: 'User' };
  body: string;
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';
  commit_id: string;
  submitted_at: string;
}
export interface CheckRun {
  id: number;
  name: string;
  head_sha: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: 'success' | 'failure' | 'neutral' | 'cancelled' | 'skipped' | 'timed_out' | 'action_required' | null;
}
export interface CodeScanningAlert {
  number: number;
  state: 'open' | 'dismissed' | 'fixed';
  rule: { id: string; severity: 'none' | 'note' | 'warning' | 'error'; security_severity_level: 'low' | 'medium' | 'high' | 'critical' | null; description: string };
  most_recent_instance: { ref: string; state: string };
  created_at: string;
  html_url: string;
}

interface Delivery {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  duration: number;
  status: string;
  status_code: number;
  event: string;
  action: string | null;
  installation_id: number | null;
  repository_id: number | null;
  url: string;
  request: { headers: Record<string, string>; payload: unknown };
  response: { headers: Record<string, string>; payload: string };
}

export interface FakeGitHub extends FakeBase {
  /** What GitHub holds: decisions, gates, webhook deliveries and issued tokens. */
  state: { decisions: GateDecision[]; gates: FakeGitHub['gates']; deliveries: Delivery[]; tokens: FakeGitHub['tokens'] };
  appId: number;
  /** PEM (PKCS#1, as GitHub hands it out) for the hub's github-app connection. */
  privateKey: string;
  installations: Installation[];
  /** Issued installation tokens → installation id. */
  tokens: Map<string, { installationId: number; expiresAt: number }>;
  /** Every deployment_protection_rule callback the hub made, in order. */
  decisions: GateDecision[];
  /** Gates waiting for the app, by "owner/repo/runId". */
  gates: Map<string, Gate>;
  deliveries: Delivery[];
  addReview(repo: string, pull: number, review: Partial<Review> & { login: string; state: Review['state'] }): Review;
  addCheckRun(repo: string, ref: string, run: Partial<CheckRun> & { name: string; status: CheckRun['status'] }): CheckRun;
  addStatus(repo: string, ref: string, status: { context: string; state: 'success' | 'pending' | 'failure' | 'error'; description?: string }): void;
  addCodeScanningAlert(repo: string, alert: Partial<CodeScanningAlert> & { severity: CodeScanningAlert['rule']['security_severity_level'] }): CodeScanningAlert;
  /** Signs (X-Hub-Signature-256) and posts a deployment_protection_rule "requested" webhook to `url`,
   * and opens the gate the hub is expected to answer. */
  sendDeploymentProtectionRule(
    url: string,
    opts: { secret: string; repo?: string; runId?: number; environment?: string; sha?: string; ref?: string; event?: string; installationId?: number },
  ): Promise<{ status: number; body: string; guid: string; payload: Record<string, unknown> }>;
  /** Answers the next `n` calls with a secondary rate limit (403 + retry-after). */
  secondaryRateLimitNext(n: number, retryAfterSeconds: number): void;
  /** Resolves once every redelivery asked for so far has been sent (GitHub sends them after its 202). */
  redeliveriesSent(): Promise<void>;
}

function b64urlJson(part: string): Record<string, unknown> | null {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Verifies an app JWT the way GitHub documents it: RS256, signed by the app key, iss = app id (number or
 * string), iat and exp integers (NumericDate), iat at most a minute ahead (clock drift), exp in the future,
 * no more than 10 minutes ahead and no more than 10 minutes after iat. */
function checkAppJwt(token: string | null, publicKey: KeyObject, appId: number, nowSec: number): string | null {
  if (!token) return 'A JSON web token could not be decoded';
  const parts = token.split('.');
  if (parts.length !== 3) return 'A JSON web token could not be decoded';
  const header = b64urlJson(parts[0]!);
  const claims = b64urlJson(parts[1]!);
  if (!header || !claims) return 'A JSON web token could not be decoded';
  if (header.alg !== 'RS256') return `'alg' must be RS256, got ${String(header.alg)}`;
  const ok = verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2]!, 'base64url'));
  if (!ok) return 'A JSON web token could not be decoded';
  if (String(claims.iss) !== String(appId)) return `'Issuer' claim ('iss') must be an Integer of the app id ${appId}`;
  const { exp, iat } = claims;
  if (typeof iat !== 'number' || !Number.isInteger(iat) || iat > nowSec + 60) {
    return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
  }
  if (typeof exp !== 'number' || !Number.isInteger(exp) || exp <= nowSec) {
    return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
  }
  if (exp > nowSec + 600 || exp - iat > 600) return "'Expiration time' claim ('exp') is too far in the future";
  return null;
}

/** The router, with repository routes served at /repos/{owner}/{repo}/… and at /repositories/{id}/…. */
class RepoRouter extends Router {
  private readonly repoIds: Map<string, number>;
  constructor(repoIds: Map<string, number>) {
    super();
    this.repoIds = repoIds;
  }
  onRepo(method: string, rest: string, handler: RouteHandler): this {
    this.on(method, `/repos/:owner/:repo${rest}`, handler);
    return this.on(method, `/repositories/:repositoryId${rest}`, (req) => {
      const full = [...this.repoIds].find(([, id]) => String(id) === req.params.repositoryId)?.[0];
      if (!full) return { status: 404, body: ghError(404, 'Not Found') };
      const [owner, repo] = full.split('/') as [string, string];
      return handler({ ...req, params: { ...req.params, owner, repo } });
    });
  }
}

export async function startFakeGitHub(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const now = opts.now ?? Date.now;
  const appId = opts.appId ?? 424242;
  let privateKey = opts.privateKey;
  if (!privateKey) {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKey = pair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  }
  const publicKey = createPublicKey(privateKey);
  const installations = opts.installations ?? [{ id: 1001, account: 'acme', repositories: ['acme/payments-api'] }];
  const permissionsOf = (inst: Installation): Record<string, 'read' | 'write'> => inst.permissions ?? DEFAULT_PERMISSIONS;
  // Repository ids: GitHub serves a repository's routes at /repositories/{id}/… too, and its Link headers use that form.
  const repoIds = new Map<string, number>();
  for (const full of installations.flatMap((i) => i.repositories)) if (!repoIds.has(full)) repoIds.set(full, 186853002 + repoIds.size);
  const tokens = new Map<string, { installationId: number; expiresAt: number }>();
  const decisions: GateDecision[] = [];
  const gates = new Map<string, Gate>();
  const reviews = new Map<string, Review[]>();
  const checkRuns = new Map<string, CheckRun[]>();
  const statuses = new Map<string, { context: string; state: string; description: string | null; created_at: string; updated_at: string }[]>();
  const alerts = new Map<string, CodeScanningAlert[]>();
  const deliveries: Delivery[] = [];
  const redeliveries = new Set<Promise<void>>();
  const deliveryTimeoutMs = opts.deliveryTimeoutMs ?? 10_000;
  // Hourly budgets (x-ratelimit-*): installation-token calls share one, the App's JWT calls have their own,
  // refused credentials count against the unauthenticated one. A window starts at its first call and
  // resets an hour later.
  const budgets = {
    api: { limit: opts.rateLimitPerHour ?? 5000, used: 0, resetAt: 0 },
    app: { limit: 5000, used: 0, resetAt: 0 },
    anonymous: { limit: 60, used: 0, resetAt: 0 },
  };
  const budget = (b: { limit: number; used: number; resetAt: number }) => {
    if (now() >= b.resetAt) Object.assign(b, { used: 0, resetAt: now() + 3600_000 });
    return b;
  };
  const rateLimitHeaders = (b: { limit: number; used: number; resetAt: number }) => ({
    'x-ratelimit-limit': String(b.limit),
    'x-ratelimit-remaining': String(Math.max(0, b.limit - b.used)),
    'x-ratelimit-used': String(b.used),
    'x-ratelimit-reset': String(Math.ceil(b.resetAt / 1000)),
    'x-ratelimit-resource': 'core',
  });
  let nextId = 1;
  let baseUrl = '';
  const iso = () => new Date(now()).toISOString().replace(/\.\d{3}Z$/, 'Z');

  /** A protection rule left undecided for 30 days times out (the job fails): nothing is left to answer. */
  function settle(gate: Gate | undefined): Gate | undefined {
    if (gate?.state === 'pending' && now() - gate.requestedAt >= 30 * 24 * 3600_000) gate.state = 'timed_out';
    return gate;
  }

  /** per_page: at most 100, 30 when absent or not a positive number. */
  function perPageOf(req: FakeRequest): number {
    const n = Number.parseInt(req.query.get('per_page') ?? '', 10);
    return n > 0 ? Math.min(100, n) : 30;
  }

  /** GitHub list paging: per_page (≤100, default 30) and page, with a Link header. */
  function paged<T>(req: FakeRequest, items: T[], wrap?: (page: T[]) => unknown): FakeResponse {
    const perPage = perPageOf(req);
    const page = Math.max(1, Number.parseInt(req.query.get('page') ?? '', 10) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const slice = items.slice((page - 1) * perPage, page * perPage);
    // As GitHub's do, links to a repository's list name it by id (/repositories/1300192/issues?page=2): a
    // client follows the URL it is given, it does not build the next one.
    const path = req.path.replace(/^\/repos\/([^/]+)\/([^/]+)(?=\/)/, (m, owner: string, repo: string) => {
      const id = repoIds.get(`${owner}/${repo}`);
      return id === undefined ? m : `/repositories/${id}`;
    });
    const link = (p: number, rel: string) => {
      const q = new URLSearchParams(req.query);
      q.set('per_page', String(perPage));
      q.set('page', String(p));
      return `<${baseUrl}${path}?${q.toString()}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page > 1) links.push(link(page - 1, 'prev'));
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(1, 'first'));
    return { status: 200, headers: links.length ? { Link: links.join(', ') } : {}, body: wrap ? wrap(slice) : slice };
  }

  /** The installation token's installation must include the repository, or GitHub answers 404, and hold
   * the endpoint's permission, or 403 "Resource not accessible by integration". */
  function repoAccess(req: FakeRequest, permission: string, level: 'read' | 'write'): FakeResponse | number {
    const full = `${req.params.owner}/${req.params.repo}`;
    const inst = installations.find((i) => String(i.id) === req.caller?.replace(/^installation:/, ''));
    if (!inst) return { status: 403, body: ghError(403, 'This endpoint requires an installation access token') };
    if (!inst.repositories.includes(full)) return { status: 404, body: ghError(404, 'Not Found') };
    const held = permissionsOf(inst)[permission];
    if (held !== 'write' && held !== level) return { status: 403, body: ghError(403, 'Resource not accessible by integration') };
    return inst.id;
  }
  const requireApp = (req: FakeRequest): FakeResponse | null =>
    req.caller === 'app' ? null : { status: 401, body: ghError(401, 'A JSON web token could not be decoded') };

  const router = new RepoRouter(repoIds)
    .on('POST', '/app/installations/:id/access_tokens', (req) => {
      const bad = requireApp(req);
      if (bad) return bad;
      const inst = installations.find((i) => String(i.id) === req.params.id);
      if (!inst) return { status: 404, body: ghError(404, 'Not Found') };
      const token = `ghs_${randomBytes(18).toString('base64url')}`;
      const expiresAt = now() + 3600_000;
      tokens.set(token, { installationId: inst.id, expiresAt });
      return {
        status: 201,
        body: {
          token,
          expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          permissions: permissionsOf(inst),
          repository_selection: 'selected',
        },
      };
    })
    .onRepo('POST', '/actions/runs/:runId/deployment_protection_rule', (req) => {
      const access = repoAccess(req, 'deployments', 'write');
      if (typeof access !== 'number') return access;
      const body = req.body as { environment_name?: unknown; state?: unknown; comment?: unknown } | null;
      if (!body || typeof body !== 'object') return { status: 400, body: ghError(400, 'Problems parsing JSON') };
      if (typeof body.environment_name !== 'string' || !body.environment_name) {
        return { status: 422, body: ghError(422, 'Invalid request.\n\n"environment_name" wasn\'t supplied.') };
      }
      if (body.state !== undefined && body.state !== 'approved' && body.state !== 'rejected') {
        return { status: 422, body: ghError(422, `Invalid request.\n\n${JSON.stringify(body.state)} is not a member of ["approved", "rejected"].`) };
      }
      if (body.comment !== undefined && typeof body.comment !== 'string') return { status: 422, body: ghError(422, 'Invalid request.\n\n"comment" must be a string.') };
      // The body is one of {environment_name, state, comment?} (a decision) or {environment_name, comment}
      // (a status comment only): one without state needs a comment.
      if (body.state === undefined && !body.comment) {
        return { status: 422, body: ghError(422, 'Invalid request.\n\nNo subschema in "oneOf" matched: "state" or "comment" wasn\'t supplied.') };
      }
      const key = `${req.params.owner}/${req.params.repo}/${req.params.runId}`;
      const gate = settle(gates.get(key));
      // An unknown run is 404. A run with nothing pending for this app in that environment (another
      // environment, or already answered) is 422, whether the call decides or only comments.
      if (!gate) return { status: 404, body: ghError(404, 'Not Found') };
      if (gate.installationId !== access) return { status: 403, body: ghError(403, 'Resource not accessible by integration') };
      if (gate.environment !== body.environment_name || gate.state !== 'pending') {
        return { status: 422, body: ghError(422, `No pending custom deployment requests in workflow run \`${req.params.runId}\` to approve or reject`) };
      }
      if (body.state) gate.state = body.state as 'approved' | 'rejected';
      decisions.push({
        owner: req.params.owner!,
        repo: req.params.repo!,
        runId: Number(req.params.runId),
        environment_name: body.environment_name,
        state: (body.state as 'approved' | 'rejected' | undefined) ?? null,
        comment: (body.comment as string | undefined) ?? null,
        installationId: access,
        at: now(),
      });
      return { status: 204 };
    })
    .on('GET', '/installation/repositories', (req) => {
      const inst = installations.find((i) => `installation:${i.id}` === req.caller);
      if (!inst) return { status: 403, body: ghError(403, 'This endpoint requires an installation access token') };
      const repos = inst.repositories.map((full) => ({ id: repoIds.get(full)!, name: full.split('/')[1], full_name: full, private: true, owner: { login: full.split('/')[0] } }));
      return paged(req, repos, (page) => ({ total_count: repos.length, repository_selection: 'selected', repositories: page }));
    })
    .onRepo('GET', '/actions/runs/:runId', (req) => {
      const access = repoAccess(req, 'actions', 'read');
      if (typeof access !== 'number') return access;
      const gate = settle(gates.get(`${req.params.owner}/${req.params.repo}/${req.params.runId}`));
      if (!gate) return { status: 404, body: ghError(404, 'Not Found') };
      // A run waits while a protection rule is unanswered; a rejection or the rule's timeout fails it, an
      // approval lets it deploy.
      const status = gate.state === 'pending' ? 'waiting' : gate.state === 'approved' ? 'in_progress' : 'completed';
      return {
        status: 200,
        body: {
          id: Number(req.params.runId),
          name: 'deploy',
          status,
          conclusion: gate.state === 'rejected' || gate.state === 'timed_out' ? 'failure' : null,
          html_url: `https://github.com/${req.params.owner}/${req.params.repo}/actions/runs/${req.params.runId}`,
          repository: { full_name: `${req.params.owner}/${req.params.repo}` },
        },
      };
    })
    .onRepo('GET', '/pulls/:pull/reviews', (req) => {
      const access = repoAccess(req, 'pull_requests', 'read');
      if (typeof access !== 'number') return access;
      return paged(req, reviews.get(`${req.params.owner}/${req.params.repo}#${req.params.pull}`) ?? []);
    })
    .onRepo('GET', '/commits/:ref/check-runs', (req) => {
      const access = repoAccess(req, 'checks', 'read');
      if (typeof access !== 'number') return access;
      let runs = checkRuns.get(`${req.params.owner}/${req.params.repo}@${req.params.ref}`) ?? [];
      const name = req.query.get('check_name');
      const status = req.query.get('status');
      const filter = req.query.get('filter') ?? 'latest';
      if (filter !== 'latest' && filter !== 'all') return { status: 422, body: ghError(422, `Invalid request.\n\n${JSON.stringify(filter)} is not a member of ["latest", "all"].`) };
      // filter=latest (the default): only the most recent run of each check, so a re-run replaces the one before.
      if (filter === 'latest') runs = [...new Map(runs.map((r) => [r.name, r])).values()];
      if (name) runs = runs.filter((r) => r.name === name);
      if (status) runs = runs.filter((r) => r.status === status);
      const all = runs;
      return paged(req, all, (page) => ({ total_count: all.length, check_runs: page }));
    })
    .onRepo('GET', '/commits/:ref/status', (req) => {
      const access = repoAccess(req, 'statuses', 'read');
      if (typeof access !== 'number') return access;
      const list = statuses.get(`${req.params.owner}/${req.params.repo}@${req.params.ref}`) ?? [];
      // Latest status per context; combined: failure if any failure/error, pending if any pending or none.
      const latest = new Map<string, (typeof list)[number]>();
      for (const s of list) latest.set(s.context, s);
      const states = [...latest.values()].map((s) => s.state);
      const state = states.some((s) => s === 'failure' || s === 'error') ? 'failure' : states.length === 0 || states.includes('pending') ? 'pending' : 'success';
      // The statuses are paged like any list (per_page, default 30); state and total_count cover them all.
      return paged(req, [...latest.values()].reverse(), (page) => ({ state, sha: req.params.ref, total_count: latest.size, statuses: page, repository: { full_name: `${req.params.owner}/${req.params.repo}` } }));
    })
    .onRepo('GET', '/code-scanning/alerts', (req) => {
      const access = repoAccess(req, 'security_events', 'read');
      if (typeof access !== 'number') return access;
      let list = alerts.get(`${req.params.owner}/${req.params.repo}`) ?? [];
      const state = req.query.get('state');
      const ref = req.query.get('ref');
      const severity = req.query.get('severity');
      if (state) list = list.filter((a) => a.state === state);
      if (ref) list = list.filter((a) => a.most_recent_instance.ref === ref);
      if (severity) list = list.filter((a) => a.rule.security_severity_level === severity);
      return paged(req, list);
    })
    .on('GET', '/app/hook/deliveries', (req) => {
      const bad = requireApp(req);
      if (bad) return bad;
      // Newest first, paged by cursor (not page): the Link header's next URL carries `cursor`.
      const list = [...deliveries].reverse().map(({ url: _u, request: _r, response: _s, ...d }) => d);
      const perPage = perPageOf(req);
      const cursor = req.query.get('cursor');
      let start = 0;
      if (cursor !== null) {
        const m = /^v1_(\d+)$/.exec(cursor);
        if (!m) return { status: 422, body: ghError(422, `Invalid request.\n\n${JSON.stringify(cursor)} is not a valid cursor.`) };
        start = list.findIndex((d) => d.id <= Number(m[1]));
        if (start < 0) start = list.length;
      }
      const next = list[start + perPage];
      const link: Record<string, string> = next ? { Link: `<${baseUrl}${req.path}?per_page=${perPage}&cursor=v1_${next.id}>; rel="next"` } : {};
      return { status: 200, headers: link, body: list.slice(start, start + perPage) };
    })
    .on('GET', '/app/hook/deliveries/:id', (req) => {
      const bad = requireApp(req);
      if (bad) return bad;
      const d = deliveries.find((x) => String(x.id) === req.params.id);
      return d ? { status: 200, body: d } : { status: 404, body: ghError(404, 'Not Found') };
    })
    .on('POST', '/app/hook/deliveries/:id/attempts', async (req) => {
      const bad = requireApp(req);
      if (bad) return bad;
      const d = deliveries.find((x) => String(x.id) === req.params.id);
      if (!d) return { status: 404, body: ghError(404, 'Not Found') };
      // Redelivery is possible for 3 days after the delivery.
      if (now() - Date.parse(d.delivered_at) > 3 * 24 * 3600_000) {
        return { status: 422, body: ghError(422, 'Redelivery is only possible for deliveries from the past 3 days') };
      }
      // 202 Accepted: GitHub redelivers afterwards, not before it answers. The redelivery keeps the
      // X-GitHub-Delivery GUID and gets a new delivery id.
      const sending = send(d.url, d.request.headers, d.request.payload, true).then(() => undefined);
      redeliveries.add(sending);
      void sending.finally(() => redeliveries.delete(sending));
      return { status: 202 };
    });

  const base = await startFakeServer(
    {
      errorBody: (status, message) => ghError(status, message),
      rateLimited(waitMs, nowMs) {
        return {
          status: opts.rateLimitStatus ?? 403,
          headers: {
            'x-ratelimit-limit': '5000',
            'x-ratelimit-remaining': '0',
            'x-ratelimit-used': '5000',
            'x-ratelimit-reset': String(Math.ceil((nowMs + waitMs) / 1000)),
            'x-ratelimit-resource': 'core',
          },
          body: ghError(opts.rateLimitStatus ?? 403, 'API rate limit exceeded for installation ID 1001. If you reach out to GitHub Support for help, please include the request ID.'),
        };
      },
      authenticate(req) {
        // GitHub's edge refuses a request without a User-Agent (plain text, before anything else), and the
        // API a version it does not serve (none sent: 2022-11-28).
        if (!req.headers['user-agent']) {
          return {
            status: 403,
            headers: { 'content-type': 'text/plain; charset=utf-8' },
            body: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n',
          };
        }
        const version = req.headers['x-github-api-version'];
        if (version !== undefined && !API_VERSIONS.includes(version)) return { status: 400, body: ghError(400, `API version ${version} is not supported.`) };
        const token = bearerToken(req.headers.authorization);
        if (req.path.startsWith('/app/')) {
          const problem = checkAppJwt(token, publicKey, appId, Math.floor(now() / 1000));
          return problem ? { status: 401, body: ghError(401, problem) } : 'app';
        }
        const held = token ? tokens.get(token) : undefined;
        if (!held || held.expiresAt <= now()) return { status: 401, body: ghError(401, 'Bad credentials') };
        // A spent budget: every call is refused (primary rate limit) until x-ratelimit-reset.
        const b = budget(budgets.api);
        if (b.used >= b.limit) {
          const status = opts.rateLimitStatus ?? 403;
          return {
            status,
            headers: rateLimitHeaders(b),
            body: ghError(status, `API rate limit exceeded for installation ID ${held.installationId}. If you reach out to GitHub Support for help, please include the request ID.`),
          };
        }
        return `installation:${held.installationId}`;
      },
      decorate(req, res) {
        // The edge's plain-text refusal carries no rate-limit headers; every API answer does, a refused
        // credential's too (counted against the unauthenticated budget of 60 an hour).
        if (typeof res.body === 'string' || res.headers?.['x-ratelimit-remaining'] !== undefined) return res;
        const b = budget(req.caller === 'app' ? budgets.app : req.caller ? budgets.api : budgets.anonymous);
        b.used = Math.min(b.limit, b.used + 1);
        return {
          ...res,
          headers: {
            ...rateLimitHeaders(b),
            'x-github-api-version-selected': '2022-11-28',
            ...(res.headers ?? {}),
          },
        };
      },
    },
    router,
    { now },
  );
  baseUrl = base.url;

  async function send(url: string, headers: Record<string, string>, payload: unknown, redelivery: boolean) {
    const raw = JSON.stringify(payload);
    const started = now();
    let status = 0;
    let body = '';
    let timedOut = false;
    try {
      // GitHub waits 10 seconds for the receiver's answer; a later one is a failed delivery.
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw, signal: AbortSignal.timeout(deliveryTimeoutMs) });
      status = res.status;
      body = await res.text();
    } catch (err) {
      timedOut = (err as Error).name === 'TimeoutError';
      status = 0;
      body = (err as Error).message;
    }
    const p = payload as { action?: string; installation?: { id: number }; repository?: { id: number } };
    deliveries.push({
      id: nextId++,
      guid: headers['x-github-delivery']!,
      delivered_at: new Date(started).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      redelivery,
      duration: (now() - started) / 1000,
      status: status >= 200 && status < 300 ? 'OK' : timedOut ? 'timed out' : status === 0 ? 'failed to connect to host' : `Invalid HTTP Response: ${status}`,
      status_code: status,
      event: headers['x-github-event']!,
      action: p.action ?? null,
      installation_id: p.installation?.id ?? null,
      repository_id: p.repository?.id ?? null,
      url,
      request: { headers, payload },
      response: { headers: {}, payload: body },
    });
    return { status, body };
  }

  const template = JSON.parse(readFileSync(new URL('./payloads/github-deployment_protection_rule.requested.json', import.meta.url), 'utf8')) as Record<string, unknown>;

  return {
    ...base,
    state: { decisions, gates, deliveries, tokens },
    appId,
    privateKey,
    installations,
    tokens,
    decisions,
    gates,
    deliveries,
    addReview(repo, pull, r) {
      const review: Review = {
        id: nextId++,
        user: { login: r.login, id: 1000 + nextId, type: 'User' },
        body: r.body ?? '',
        state: r.state,
        commit_id: r.commit_id ?? 'f95f852bd8fca8fcc58a9a2d6c842781e32a215e',
        submitted_at: r.submitted_at ?? iso(),
      };
      const key = `${repo}#${pull}`;
      reviews.set(key, [...(reviews.get(key) ?? []), review]);
      return review;
    },
    addCheckRun(repo, ref, r) {
      const run: CheckRun = { id: nextId++, head_sha: ref, conclusion: null, ...r };
      const key = `${repo}@${ref}`;
      checkRuns.set(key, [...(checkRuns.get(key) ?? []), run]);
      return run;
    },
    addStatus(repo, ref, s) {
      const key = `${repo}@${ref}`;
      statuses.set(key, [...(statuses.get(key) ?? []), { context: s.context, state: s.state, description: s.description ?? null, created_at: iso(), updated_at: iso() }]);
    },
    addCodeScanningAlert(repo, a) {
      const list = alerts.get(repo) ?? [];
      const alert: CodeScanningAlert = {
        number: list.length + 1,
        state: a.state ?? 'open',
        rule: a.rule ?? { id: 'js/sql-injection', severity: 'error', security_severity_level: a.severity, description: 'Database query built from user-controlled sources' },
        most_recent_instance: a.most_recent_instance ?? { ref: 'refs/heads/main', state: a.state ?? 'open' },
        created_at: a.created_at ?? iso(),
        html_url: `https://github.com/${repo}/security/code-scanning/${list.length + 1}`,
      };
      alerts.set(repo, [...list, alert]);
      return alert;
    },
    async sendDeploymentProtectionRule(url, o) {
      const inst = installations.find((i) => i.id === (o.installationId ?? installations[0]!.id))!;
      const full = o.repo ?? inst.repositories[0]!;
      const [owner, repo] = full.split('/') as [string, string];
      const runId = o.runId ?? 9876543210;
      const environment = o.environment ?? 'production';
      const payload = structuredClone(template) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      payload.environment = environment;
      payload.event = o.event ?? 'push';
      payload.deployment_callback_url = `${baseUrl}/repos/${owner}/${repo}/actions/runs/${runId}/deployment_protection_rule`;
      payload.deployment.environment = environment;
      payload.deployment.original_environment = environment;
      if (o.sha) payload.deployment.sha = o.sha;
      if (o.ref) payload.deployment.ref = o.ref;
      payload.repository.id = repoIds.get(full) ?? payload.repository.id;
      payload.repository.name = repo;
      payload.repository.full_name = full;
      payload.repository.owner.login = owner;
      payload.installation = { id: inst.id, node_id: Buffer.from(`Installation${inst.id}`).toString('base64') };
      gates.set(`${owner}/${repo}/${runId}`, { environment, state: 'pending', installationId: inst.id, requestedAt: now() });
      const guid = randomUUID();
      const raw = JSON.stringify(payload);
      const headers = {
        'x-github-event': 'deployment_protection_rule',
        'x-github-delivery': guid,
        'x-github-hook-id': '468500000',
        'x-github-hook-installation-target-type': 'integration',
        'x-github-hook-installation-target-id': String(appId),
        'x-hub-signature-256': `sha256=${hmacSha256Hex(o.secret, raw)}`,
        'x-hub-signature': `sha1=${createHmac('sha1', o.secret).update(raw).digest('hex')}`,
        'user-agent': 'GitHub-Hookshot/4a1b2c3',
      };
      const r = await send(url, headers, payload, false);
      return { ...r, guid, payload };
    },
    async redeliveriesSent() {
      while (redeliveries.size > 0) await Promise.all([...redeliveries]);
    },
    secondaryRateLimitNext(n, retryAfterSeconds) {
      // An API answer like any other: the hourly budget's x-ratelimit-* (not spent) beside retry-after.
      base.failNext(n, 403, { ...rateLimitHeaders(budget(budgets.api)), 'retry-after': String(retryAfterSeconds) }, ghError(403, 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.'));
    },
  };
}
