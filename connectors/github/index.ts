// GitHub connector (GitHub App): deployment protection rule requests in, gate answers and package
// validation out, redelivery of missed deliveries as reconciliation. GitHub Enterprise Server via baseUrl.
import { defineConnector, needsWebhookSecret, type InboundDelivery } from '../../src/sdk/index.ts';
import { answerGate } from './actions/answer-gate.ts';
import { validatePackage } from './actions/validate-package.ts';
import { githubHeaders } from './api.ts';
import { githubAppAuth } from './auth.ts';
import { parseGitHub } from './parse.ts';
import { reconcileGitHub } from './reconcile.ts';
import { verifyGitHub } from './verify.ts';

export default defineConnector({
  id: 'github',
  displayName: 'GitHub (deployment protection rules)',
  // Link header paging; a secondary limit sends retry-after (or only says so in its message: then wait at
  // least a minute), a primary one x-ratelimit-remaining: 0 and x-ratelimit-reset (epoch seconds).
  vendor: {
    pagination: 'link-header',
    retryAfterHeaders: ['retry-after'],
    rateLimitResetHeaders: ['x-ratelimit-reset'],
    rateLimitWithoutTime: { messages: ['secondary rate limit'], waitMs: 60_000 },
  },
  webhook: {
    verify: verifyGitHub,
    dedupeKey: (d: InboundDelivery) => d.headers['x-github-delivery'] ?? null,
    eventName: (d: InboundDelivery) => d.headers['x-github-event'] ?? null,
    secretHeaders: ['x-hub-signature-256', 'x-hub-signature'],
    settingsProblem: needsWebhookSecret,
    // Per deployment (a protection rule's request and anything after it about the same deployment).
    orderingKey(_d: InboundDelivery, body: unknown) {
      const id = (body as { deployment?: { id?: unknown } } | null)?.deployment?.id;
      return typeof id === 'number' || (typeof id === 'string' && id !== '') ? `deployment/${id}` : null;
    },
  },
  parse: parseGitHub,
  actions: [answerGate, validatePackage],
  reconcile: reconcileGitHub,
  async health(ctx) {
    const res = await ctx.http.request<{ total_count?: number }>({ method: 'GET', path: '/installation/repositories', query: { per_page: 1 }, headers: githubHeaders });
    return { ok: true, detail: `installation token works (${res.body.total_count ?? 0} repositories)` };
  },
  auth: githubAppAuth,
  mappingKinds: ['deployment'],
  // The mapping reads the whole deployment_protection_rule webhook body; other events do not carry a deployment gate.
  recordLocations: { deployment: { at: [''], has: ['deployment', 'environment', 'deployment_callback_url'] } },
  readme: 'connectors/github/README.md',
  options: ['jira', 'jiraProjects', 'reconcileLookbackMinutes'],
  optionsProblems({ options }, connections) {
    const jira = options.jira;
    if (jira === undefined || connections.some((c) => c.id === jira && c.connector === 'jira')) return [];
    const ids = connections.filter((c) => c.connector === 'jira').map((c) => c.id);
    return [['jira', `names no jira connection in this file (${ids.length ? `jira connections: ${ids.join(', ')}` : 'there is none'}): Jira keys found in refs and pull requests would link to nothing`]];
  },
});
