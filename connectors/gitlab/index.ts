// GitLab: webhooks in, verified and deduplicated, stored and recorded. Turning its deployment events
// into changes and decisions is not built yet: GitLab sends no webhook for a deployment waiting for
// approval (only running, success, failed, canceled), so that part needs reconciliation on
// `status=blocked` and the deployments approval API, which come with the full connector.
import { createHash } from 'node:crypto';
import { defineConnector, jsonObjectOf, needsWebhookSecret, verifySharedSecretHeader, webhookSecrets, type ConnectionSettings, type InboundDelivery, type ParseResult } from '../../src/sdk/index.ts';

export function parseGitLab(d: InboundDelivery): ParseResult {
  const body = jsonObjectOf(d);
  if (!body) return { status: 'failed', reason: 'the body is not a JSON object' };
  const kind = typeof body.object_kind === 'string' ? body.object_kind : d.headers['x-gitlab-event'] ?? 'unknown';
  return { status: 'ignored', reason: `GitLab "${kind}" events are verified and stored, but not yet turned into changes or decisions (connectors/gitlab/README.md)` };
}

export default defineConnector({
  id: 'gitlab',
  displayName: 'GitLab',
  vendor: { pagination: 'link-header', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['ratelimit-reset'] },
  webhook: {
    // The shared secret arrives as it is in X-Gitlab-Token: GitLab does not sign bodies.
    verify: (d: InboundDelivery, connection: ConnectionSettings) => verifySharedSecretHeader(d, 'x-gitlab-token', webhookSecrets(connection)),
    // Idempotency-Key (GitLab 17.4+) is stable across GitLab's retries and resends. Before it, only
    // X-Gitlab-Event-UUID, which GitLab repeats on recursive hooks (events set off by an earlier webhook):
    // with the body, it tells a resend of one event from another event carrying the same UUID.
    dedupeKey(d: InboundDelivery) {
      if (d.headers['idempotency-key']) return d.headers['idempotency-key'];
      const uuid = d.headers['x-gitlab-event-uuid'];
      return uuid ? `${uuid}/sha256:${createHash('sha256').update(d.rawBody).digest('hex')}` : null;
    },
    eventName(d: InboundDelivery, body?: unknown) {
      const kind = jsonObjectOf(d, body)?.object_kind;
      return typeof kind === 'string' ? kind : d.headers['x-gitlab-event'] ?? null;
    },
    orderingKey(d: InboundDelivery, body: unknown) {
      const b = jsonObjectOf(d, body);
      return b?.object_kind === 'deployment' && (typeof b.deployment_id === 'number' || typeof b.deployment_id === 'string') ? `deployment/${String(b.deployment_id)}` : null;
    },
    secretHeaders: ['x-gitlab-token', 'authorization'],
    settingsProblem: needsWebhookSecret,
    // GitLab takes any 4xx as a misconfigured hook and disables it for good (a 5xx only for a while),
    // and retries nothing: the hub at capacity answers 503, never 429.
    busyStatus: 503,
  },
  parse: parseGitLab,
  // Any token may read the instance's version (an unauthenticated call gets 401): baseUrl is the instance.
  async health(ctx) {
    const res = await ctx.http.request<unknown>({ method: 'GET', path: '/api/v4/version' });
    const version = typeof res.body === 'object' && res.body !== null ? (res.body as { version?: unknown }).version : undefined;
    if (typeof version !== 'string') return { ok: false, detail: `${ctx.connection.baseUrl ?? 'baseUrl'} answered ${res.status} but not as GitLab's API (expected {"version": ...} from /api/v4/version): check baseUrl is the instance, e.g. https://gitlab.example.com` };
    return { ok: true, detail: `token accepted by GitLab ${version}` };
  },
  readme: 'connectors/gitlab/README.md',
  options: [],
});
