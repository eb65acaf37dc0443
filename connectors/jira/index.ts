// Jira Cloud / Jira Service Management connector: issue status and JSM approval answers in (signed
// webhooks, search reconciliation); comments, transitions and JSM approval answers out.
import { defineConnector, needsWebhookSecret, type InboundDelivery } from '../../src/sdk/index.ts';
import { readApprovals, recordDecision } from './actions/approvals.ts';
import { comment } from './actions/comment.ts';
import { transition } from './actions/transition.ts';
import { parseJira } from './parse.ts';
import { reconcileJira } from './reconcile.ts';
import { verifyJira } from './verify.ts';

export default defineConnector({
  id: 'jira',
  displayName: 'Jira / Jira Service Management',
  // Search pages by nextPageToken; 429 (and 503) with Retry-After seconds; X-RateLimit-Reset is an ISO time.
  vendor: { pagination: 'next-page-token', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] },
  webhook: {
    verify: verifyJira,
    // Unique per event and the same on Jira's retries.
    dedupeKey: (d: InboundDelivery) => d.headers['x-atlassian-webhook-identifier'] ?? null,
    eventName(d: InboundDelivery, body?: unknown) {
      try {
        const event = ((body ?? JSON.parse(d.rawBody.toString('utf8'))) as { webhookEvent?: unknown }).webhookEvent;
        return typeof event === 'string' ? event : null;
      } catch {
        return null;
      }
    },
    // Per issue, by its id (a key changes when an issue moves project): a request's creation, its
    // approvals and its status changes are handled in the order Jira sent them.
    orderingKey(_d: InboundDelivery, body: unknown) {
      const id = (body as { issue?: { id?: unknown } } | null)?.issue?.id;
      return typeof id === 'string' && id !== '' ? `issue/${id}` : null;
    },
    secretHeaders: ['x-hub-signature', 'authorization'],
    settingsProblem: needsWebhookSecret,
  },
  parse: parseJira,
  actions: [comment, transition, recordDecision, readApprovals],
  reconcile: reconcileJira,
  async health(ctx) {
    const me = await ctx.http.request<{ accountId?: string; displayName?: string }>({ method: 'GET', path: '/rest/api/3/myself' });
    return { ok: true, detail: `authenticated as ${me.body.displayName ?? me.body.accountId ?? 'unknown'}` };
  },
  mappingKinds: ['issue', 'approval'],
  // The issue is `issue` in a webhook ({webhookEvent, issue, changelog}), each of `issues` in a search
  // page, and the body of GET /rest/api/3/issue/{key}. An approval is the connector's own
  // {issue, approval, approver} (mappings/jira/approval.yaml), built from JSM's approvals.
  recordLocations: {
    issue: { at: ['issue', 'issues', ''], has: ['key', 'fields'] },
    approval: { at: [''], has: ['issue', 'approval', 'approver'] },
  },
  readme: 'connectors/jira/README.md',
  options: ['project', 'jql', 'changeProjects', 'changeIssueTypes', 'statuses', 'approvalsField', 'fields', 'timeZone', 'reconcileLookbackMinutes', 'readApprovals'],
  optionsProblems({ options, reconcile }) {
    // Reconciliation searches Jira, and a search must be bounded.
    return reconcile && typeof options.project !== 'string' && typeof options.jql !== 'string'
      ? [['project', 'is required with a reconcile schedule (or options.jql): the search for updated issues must be bounded']]
      : [];
  },
});
