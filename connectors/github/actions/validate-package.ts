// Gathers the release package's evidence for the policy: PR reviews, check runs, legacy commit statuses
// and open code-scanning alerts at the deployed ref. Returns them as canonical artifacts; deciding
// whether they suffice is the policy's job, not the connector's.
import { HttpError, PermanentError, type ActionContext, type ActionDefinition, type JsonObject } from '../../../src/sdk/index.ts';
import { githubHeaders } from '../api.ts';
import { installationHeaders } from '../auth.ts';

interface Review {
  user: { login: string } | null;
  state: string;
  submitted_at?: string;
}
interface CheckRun {
  name: string;
  status: string;
  conclusion: string | null;
}
interface CommitStatus {
  context: string;
  state: string;
}
interface Alert {
  rule?: { security_severity_level?: string | null; severity?: string | null };
}

const reviewStates: Record<string, string> = { APPROVED: 'approved', CHANGES_REQUESTED: 'changes-requested', COMMENTED: 'commented', DISMISSED: 'dismissed' };

async function collect<T>(
  ctx: ActionContext,
  headers: Record<string, string>,
  path: string,
  query: Record<string, string | number>,
  itemsOf: (body: unknown) => T[],
): Promise<T[]> {
  const all: T[] = [];
  for await (const page of ctx.http.paginate<T>({ method: 'GET', path, query: { per_page: 100, ...query }, headers }, itemsOf)) all.push(...page);
  return all;
}

export const validatePackage: ActionDefinition = {
  intent: 'validate-package',
  description: 'Read reviews, check runs, commit statuses and code-scanning alerts for the gated deployment; returns artifacts',
  async run(input, ctx) {
    const data = input.link?.data ?? {};
    const repository = typeof data.repository === 'string' ? data.repository : null;
    const sha = typeof data.sha === 'string' ? data.sha : null;
    if (!repository || !sha) throw new PermanentError('validate-package needs a linked deployment gate with repository and sha');
    const ref = typeof data.ref === 'string' ? data.ref : sha;
    const pulls = Array.isArray(data.pullRequests) ? data.pullRequests.filter((n): n is number => typeof n === 'number') : [];
    const headers = { ...githubHeaders, ...(await installationHeaders(ctx.connection, data.installationId)) };

    // The latest review per reviewer counts (a later approval replaces requested changes).
    const latest = new Map<string, JsonObject>();
    for (const n of pulls) {
      const reviews = await collect<Review>(ctx, headers, `/repos/${repository}/pulls/${n}/reviews`, {}, (b) => (Array.isArray(b) ? (b as Review[]) : []));
      for (const r of reviews) {
        const state = reviewStates[r.state];
        if (!state || !r.user) continue;
        if (state === 'commented' && latest.has(r.user.login)) continue;
        latest.set(r.user.login, { reviewer: r.user.login, state, ...(r.submitted_at ? { at: r.submitted_at } : {}) });
      }
    }
    const runs = await collect<CheckRun>(ctx, headers, `/repos/${repository}/commits/${sha}/check-runs`, {}, (b) => (b as { check_runs?: CheckRun[] }).check_runs ?? []);
    // The combined status pages its statuses like any list (30 by default); its state is on every page.
    let combinedState: string | null = null;
    const statuses = await collect<CommitStatus>(ctx, headers, `/repos/${repository}/commits/${sha}/status`, {}, (b) => {
      const page = (b ?? {}) as { state?: string; statuses?: CommitStatus[] };
      combinedState ??= page.state ?? null;
      return page.statuses ?? [];
    });
    const checks: JsonObject[] = [
      ...runs.map((r) => ({ name: r.name, conclusion: r.conclusion ?? r.status })),
      ...statuses.map((s) => ({ name: s.context, conclusion: s.state })),
    ];

    let staticAnalysis: JsonObject;
    try {
      const alerts = await collect<Alert>(ctx, headers, `/repos/${repository}/code-scanning/alerts`, { ref: ref.startsWith('refs/') ? ref : `refs/heads/${ref}`, state: 'open' }, (b) => (Array.isArray(b) ? (b as Alert[]) : []));
      const counts = { critical: 0, high: 0, medium: 0, low: 0 };
      for (const a of alerts) {
        // Security alerts carry security_severity_level; other rules only error/warning/note.
        const level = a.rule?.security_severity_level ?? ({ error: 'high', warning: 'medium', note: 'low' } as Record<string, string>)[a.rule?.severity ?? ''] ?? 'low';
        if (level in counts) counts[level as keyof typeof counts]++;
      }
      staticAnalysis = { ...counts, summary: `${alerts.length} open code-scanning alert${alerts.length === 1 ? '' : 's'}` };
    } catch (e) {
      // 404: code scanning is not set up for the repository; 403: the App lacks "Code scanning alerts: read".
      // A 403 that says when to come back is a rate limit, not a missing permission.
      if (!(e instanceof HttpError) || (e.status !== 404 && e.status !== 403) || e.retryAfterMs !== null) throw e;
      staticAnalysis = { critical: 0, high: 0, medium: 0, low: 0, summary: `code scanning unavailable (${e.status})` };
    }
    return {
      status: 'done',
      link: input.link ?? undefined,
      result: { artifacts: { peerReviews: [...latest.values()], checks, combinedStatus: combinedState, staticAnalysis } },
    };
  },
};
