// deployment_protection_rule "requested" → change.requested: the pipeline run waits on the hub as a custom
// deployment protection rule until answer-gate calls deployment_callback_url. Everything else GitHub
// sends to the App (ping, installation, reviews, ...) is acknowledged and ignored with a reason.
import type { ExternalRef, InboundDelivery, ParseContext, ParseResult } from '../../src/sdk/index.ts';
import { checkCallbackUrl } from './api.ts';

interface PullRequest {
  number?: number;
  title?: string;
  html_url?: string;
  head?: { ref?: string };
}
interface Payload {
  action?: string;
  environment?: string;
  deployment_callback_url?: string;
  deployment?: { id?: number; sha?: string; ref?: string; description?: string | null; payload?: unknown };
  pull_requests?: PullRequest[];
  repository?: { full_name?: string; html_url?: string };
  installation?: { id?: number };
  head_commit?: { message?: string };
}

const jiraKeyPattern = /(?<![A-Za-z0-9])([A-Z][A-Z0-9]+-\d+)(?![0-9])/g;

/** Jira keys in the branch, PR titles and branches and any commit message, in order of appearance. */
export function jiraKeys(texts: (string | null | undefined)[], projects: string[] | null): string[] {
  const keys: string[] = [];
  for (const text of texts) {
    if (typeof text !== 'string') continue;
    for (const m of text.matchAll(jiraKeyPattern)) {
      const key = m[1]!;
      // With projects configured, "UTF-8" or "SHA-256" in a title is not mistaken for an issue.
      if (projects && !projects.includes(key.slice(0, key.lastIndexOf('-')))) continue;
      if (!keys.includes(key)) keys.push(key);
    }
  }
  return keys;
}

export function parseGitHub(delivery: InboundDelivery, ctx: ParseContext): ParseResult {
  const event = delivery.headers['x-github-event'] ?? null;
  let body: Payload;
  try {
    body = JSON.parse(delivery.rawBody.toString('utf8')) as Payload;
  } catch {
    return { status: 'failed', reason: 'body is not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { status: 'failed', reason: 'body is not a JSON object' };
  if (event !== 'deployment_protection_rule') {
    return { status: 'ignored', reason: `event ${JSON.stringify(event)}${body.action ? ` (${body.action})` : ''} is not handled (expected deployment_protection_rule)` };
  }
  if (body.action !== 'requested') return { status: 'ignored', reason: `deployment_protection_rule action ${JSON.stringify(body.action ?? null)} is not handled` };
  if (typeof body.deployment_callback_url !== 'string') return { status: 'failed', reason: 'deployment_callback_url: required but missing' };
  const callback = checkCallbackUrl(ctx.connection, body.deployment_callback_url);
  if (!callback.ok) return { status: 'failed', reason: `deployment_callback_url: ${callback.reason}` };

  const change = ctx.normalize('deployment', body);
  if (!change.ok) return { status: 'failed', reason: `field ${change.field}: ${change.reason}` };

  const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
  const repository = text(body.repository?.full_name) ?? callback.repository;
  const htmlRepo = text(body.repository?.html_url) ?? `https://github.com/${repository}`;
  const environment = text(body.environment) ?? '';
  const sha = text(body.deployment?.sha);
  const pulls = (Array.isArray(body.pull_requests) ? body.pull_requests : []).filter((p): p is PullRequest => typeof p === 'object' && p !== null);
  const link: ExternalRef = {
    kind: 'deployment-gate',
    externalId: `${repository}/runs/${callback.runId}/${environment}`,
    url: `${htmlRepo}/actions/runs/${callback.runId}`,
    data: {
      callbackUrl: body.deployment_callback_url,
      environment,
      runId: callback.runId,
      repository,
      sha,
      ref: text(body.deployment?.ref),
      deploymentId: typeof body.deployment?.id === 'number' ? body.deployment.id : null,
      installationId: typeof body.installation?.id === 'number' ? body.installation.id : null,
      pullRequests: pulls.map((p) => p.number).filter((n): n is number => typeof n === 'number'),
    },
  };
  const related: ExternalRef[] = [{ kind: 'repository', externalId: repository, url: htmlRepo }];
  if (sha) related.push({ kind: 'commit', externalId: `${repository}@${sha}`, url: `${htmlRepo}/commit/${sha}` });
  const jira = ctx.connection.options.jira;
  if (typeof jira === 'string') {
    const projects = Array.isArray(ctx.connection.options.jiraProjects) ? ctx.connection.options.jiraProjects.map(String) : null;
    const texts = [body.deployment?.ref, ...pulls.flatMap((p) => [p.head?.ref, p.title]), body.head_commit?.message, body.deployment?.description];
    for (const key of jiraKeys(texts, projects)) related.push({ kind: 'issue', externalId: key, data: { connection: jira } });
  }
  return { status: 'events', events: [{ type: 'change.requested', change: change.value, link, relatedLinks: related }] };
}
