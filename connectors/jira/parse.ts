// jira:issue_created deliveries for an issue in a JSM change project (options.changeProjects) or of a
// change issue type (options.changeIssueTypes) → change.requested, the issue being the change's record.
// jira:issue_updated deliveries → record.updated (status moved) and, for Jira Service Management,
// decision.recorded when the approvals custom field changed and shows final answers. Reconciliation
// reads the same issue shape from /rest/api/3/search/jql and shares issueEvents().
import type { CanonicalEvent, ExternalRef, InboundDelivery, ParseContext, ParseResult } from '../../src/sdk/index.ts';

type Normalize = ParseContext['normalize'];
export interface JiraIssue {
  id: string;
  key: string;
  self?: string;
  fields: Record<string, unknown>;
}
interface ChangelogItem {
  field?: string;
  fieldId?: string;
}

export function parseJira(delivery: InboundDelivery, ctx: ParseContext): ParseResult {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(delivery.rawBody.toString('utf8')) as Record<string, unknown>;
  } catch {
    return { status: 'failed', reason: 'body is not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { status: 'failed', reason: 'body is not a JSON object' };
  if (body.webhookEvent !== 'jira:issue_updated' && body.webhookEvent !== 'jira:issue_created') {
    return { status: 'ignored', reason: `webhook event ${JSON.stringify(body.webhookEvent ?? null)} is not handled (expected jira:issue_created or jira:issue_updated)` };
  }
  const issue = body.issue as JiraIssue | undefined;
  if (typeof issue !== 'object' || issue === null || typeof issue.key !== 'string' || typeof issue.fields !== 'object' || issue.fields === null || Array.isArray(issue.fields)) {
    return { status: 'failed', reason: 'issue: expected an object with key and fields' };
  }
  if (body.webhookEvent === 'jira:issue_created') return changeRequested(issue, ctx);
  const project = ctx.connection.options.project;
  const issueProject = (issue.fields.project as { key?: unknown } | undefined)?.key;
  if (typeof project === 'string' && issueProject !== project) {
    return { status: 'ignored', reason: `issue ${issue.key} is in project ${String(issueProject)}, not ${project}` };
  }
  const rawItems = (body.changelog as { items?: unknown } | null | undefined)?.items;
  const items = (Array.isArray(rawItems) ? rawItems : []).filter((i): i is ChangelogItem => typeof i === 'object' && i !== null);
  const approvalsField = approvalsFieldOf(ctx);
  const statusChanged = items.some((i) => i.fieldId === 'status' || i.field === 'status');
  const approvalsChanged = approvalsField !== null && items.some((i) => i.fieldId === approvalsField);
  if (!statusChanged && !approvalsChanged) {
    const changed = items.map((i) => i.fieldId ?? i.field).join(', ') || 'nothing';
    return { status: 'ignored', reason: `no tracked field changed on ${issue.key} (status${approvalsField ? `, ${approvalsField}` : ''}); changed: ${changed}` };
  }
  return issueEvents(issue, ctx.normalize, { status: statusChanged, approvalsField: approvalsChanged ? approvalsField : null });
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** A new issue is a change request when its project is a change project or its type a change type
 * (either option alone is enough; both unset means the connection raises no changes). */
function changeRequested(issue: JiraIssue, ctx: ParseContext): ParseResult {
  const projects = stringList(ctx.connection.options.changeProjects);
  const types = stringList(ctx.connection.options.changeIssueTypes);
  const project = (issue.fields.project as { key?: unknown } | undefined)?.key;
  const type = (issue.fields.issuetype as { name?: unknown } | undefined)?.name;
  if (projects.length === 0 && types.length === 0) {
    return { status: 'ignored', reason: `issue ${issue.key} created: this connection raises no changes (set options.changeProjects or options.changeIssueTypes)` };
  }
  const inProject = typeof project === 'string' && projects.includes(project);
  const ofType = typeof type === 'string' && types.includes(type);
  if (!inProject && !ofType) {
    const wanted = [projects.length ? `project ${projects.join(' or ')}` : null, types.length ? `issue type ${types.join(' or ')}` : null].filter(Boolean).join(', or ');
    return { status: 'ignored', reason: `issue ${issue.key} created in project ${String(project ?? null)} as ${JSON.stringify(type ?? null)}: changes are raised only for ${wanted}` };
  }
  const canonical = ctx.normalize('issue', issue);
  if (!canonical.ok) return { status: 'failed', reason: `issue ${issue.key}: field ${canonical.field}: ${canonical.reason}` };
  // The hub decides the change's state (policy, approvals); the Jira status only says where the request starts.
  const change = Object.fromEntries(Object.entries(canonical.value).filter(([k]) => k !== 'state' && k !== 'updatedAt'));
  return { status: 'events', events: [{ type: 'change.requested', change, link: issueLink(issue) }] };
}

export function approvalsFieldOf(ctx: { connection: { options: Record<string, unknown> } }): string | null {
  const field = ctx.connection.options.approvalsField;
  return typeof field === 'string' && field !== '' ? field : null;
}

export function issueLink(issue: JiraIssue): ExternalRef {
  const site = issue.self ? new URL(issue.self).origin : null;
  return {
    kind: 'issue',
    externalId: issue.key,
    url: site ? `${site}/browse/${issue.key}` : null,
    version: typeof issue.fields.updated === 'string' ? issue.fields.updated : null,
    data: { id: String(issue.id) },
  };
}

/** Events for one issue: its status (when asked) and the final answers in the JSM approvals field (when named). */
export function issueEvents(issue: JiraIssue, normalize: Normalize, what: { status: boolean; approvalsField: string | null }): ParseResult {
  const events: CanonicalEvent[] = [];
  const link = issueLink(issue);
  // Decisions first: the status a final answer moves the request to (Awaiting implementation, Declined)
  // follows from the decision, and the hub takes that state only from its own plan.
  if (what.approvalsField) {
    const approvals = issue.fields[what.approvalsField];
    if (Array.isArray(approvals)) {
      const decided = approvalDecisions(issue.key, approvals, normalize, link);
      if (!decided.ok) return { status: 'failed', reason: decided.reason };
      events.push(...decided.events);
    }
  }
  if (what.status) {
    const canonical = normalize('issue', issue);
    if (!canonical.ok) return { status: 'failed', reason: `issue ${issue.key}: field ${canonical.field}: ${canonical.reason}` };
    const fields: Record<string, string> = {};
    if (typeof canonical.value.state === 'string') fields.state = canonical.value.state;
    if (typeof canonical.value.updatedAt === 'string') fields.updatedAt = canonical.value.updatedAt;
    events.push({ type: 'record.updated', link, fields });
  }
  if (events.length === 0) return { status: 'ignored', reason: `issue ${issue.key}: no final approval answers yet` };
  return { status: 'events', events };
}

/** decision.recorded for every approver who answered a JSM approval (pending answers are skipped). */
export function approvalDecisions(
  key: string,
  approvals: unknown[],
  normalize: Normalize,
  link: ExternalRef,
): { ok: true; events: CanonicalEvent[] } | { ok: false; reason: string } {
  const events: CanonicalEvent[] = [];
  for (const approval of approvals) {
    const approvers = (approval as { approvers?: unknown } | null)?.approvers;
    if (!Array.isArray(approvers)) continue;
    for (const approver of approvers) {
      const d = normalize('approval', { issue: { key }, approval, approver });
      if (!d.ok) return { ok: false, reason: `issue ${key} approval: field ${d.field}: ${d.reason}` };
      if (d.value.outcome !== 'approve' && d.value.outcome !== 'reject') continue;
      events.push({
        type: 'decision.recorded',
        link: { ...link, data: { ...link.data, approvalId: d.value.approvalId as string } },
        outcome: d.value.outcome,
        actor: d.value.actor as string,
        rationale: null,
        at: d.value.at as string,
        onBehalfOf: null,
      });
    }
  }
  return { ok: true, events };
}
