// Reconciliation through /rest/api/3/search/jql, paged by the shared pager (nextPageToken; the new search
// has no total and no startAt). JQL dates have minute resolution in the user's profile time zone, so the
// query starts one minute before the cursor and issues already seen at the same `updated` are skipped.
// The cursor is JSON: { "since": ISO time of the newest update seen, "seen": ["<id>@<updated>", ...] }.
// Without the JSM Approvals custom field (options.approvalsField unset) neither the webhook nor the
// search carries approvers' answers, so each request found around its approval gate (its status maps to
// pending-approval, approved or rejected) has its approvals read from the servicedeskapi; answering an
// approval updates the request, so a decision whose webhook was lost is found by the next run.
import { HttpError, type CanonicalEvent, type ReconcileContext, type ReconcilePage } from '../../src/sdk/index.ts';
import { listApprovals } from './jsm-approvals.ts';
import { approvalDecisions, approvalsFieldOf, issueEvents, issueLink, type JiraIssue } from './parse.ts';

const pageSize = 100;
const overlapMs = 60_000;
const defaultLookbackMinutes = 24 * 60;
// Search returns only ids unless fields are named.
const baseFields = ['summary', 'status', 'updated', 'created', 'description', 'reporter', 'labels', 'project'];

interface Cursor {
  since: string;
  seen: string[];
}

export function readCursor(text: string | null, now: Date, lookbackMinutes: number): Cursor {
  if (text) {
    try {
      const c = JSON.parse(text) as Partial<Cursor>;
      if (typeof c.since === 'string' && Number.isFinite(Date.parse(c.since))) return { since: c.since, seen: Array.isArray(c.seen) ? c.seen.map(String) : [] };
    } catch {
      // An unreadable cursor (hand-edited, older format) restarts from the lookback window.
    }
  }
  return { since: new Date(now.getTime() - lookbackMinutes * 60_000).toISOString(), seen: [] };
}

/** "yyyy-MM-dd HH:mm" in the given IANA time zone, as JQL expects. */
export function jqlTime(date: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

/** The API user's profile time zone, in which Jira reads JQL dates (GET /rest/api/3/myself → timeZone).
 * Guessing UTC instead would skip updates whenever the profile is west of UTC. */
async function profileTimeZone(ctx: ReconcileContext): Promise<string> {
  let zone: unknown;
  try {
    zone = (await ctx.http.request<{ timeZone?: unknown }>({ method: 'GET', path: '/rest/api/3/myself' })).body?.timeZone;
  } catch (err) {
    if (!(err instanceof HttpError && err.status === 404)) throw err;
  }
  if (typeof zone === 'string' && zone !== '') {
    try {
      jqlTime(new Date(0), zone);
      return zone;
    } catch {
      // Not an IANA zone this runtime knows: fall through.
    }
  }
  ctx.log.warn({ connection: ctx.connection.id, timeZone: zone ?? null }, 'jira profile time zone unknown; JQL dates written in UTC (set options.timeZone)');
  return 'UTC';
}

export async function* reconcileJira(ctx: ReconcileContext): AsyncIterable<ReconcilePage> {
  const options = ctx.connection.options;
  const lookback = typeof options.reconcileLookbackMinutes === 'number' ? options.reconcileLookbackMinutes : defaultLookbackMinutes;
  const scope = typeof options.jql === 'string' ? options.jql : typeof options.project === 'string' ? `project = "${options.project}"` : null;
  if (!scope) throw new Error(`connection ${ctx.connection.id}: set options.project or options.jql (Jira search must be bounded)`);
  const timeZone = typeof options.timeZone === 'string' ? options.timeZone : await profileTimeZone(ctx);
  const cursor = readCursor(ctx.cursor, ctx.now(), lookback);
  const approvalsField = approvalsFieldOf(ctx);
  const extra = Array.isArray(options.fields) ? options.fields.map(String) : [];
  const fields = [...new Set([...baseFields, ...extra, ...(approvalsField ? [approvalsField] : [])])].join(',');
  const from = jqlTime(new Date(Date.parse(cursor.since) - overlapMs), timeZone);

  let since = cursor.since;
  let seen = new Set(cursor.seen);
  const pages = ctx.http.paginate<JiraIssue>(
    {
      method: 'GET',
      path: '/rest/api/3/search/jql',
      query: { jql: `(${scope}) AND updated >= "${from}" ORDER BY updated ASC`, fields, maxResults: pageSize },
    },
    (body) => (body as { issues?: JiraIssue[] }).issues ?? [],
  );
  for await (const issues of pages) {
    const events: CanonicalEvent[] = [];
    for (const issue of issues) {
      const updated = typeof issue.fields.updated === 'string' ? issue.fields.updated : '';
      const mark = `${issue.id}@${updated}`;
      if (seen.has(mark)) continue;
      // Decisions before the status: the status a final answer moves the request to (e.g. Awaiting
      // implementation) follows from the decision, which the hub must have first.
      if (!approvalsField && options.readApprovals !== false) events.push(...(await answeredApprovals(ctx, issue)));
      const parsed = issueEvents(issue, ctx.normalize, { status: true, approvalsField });
      if (parsed.status === 'events') events.push(...parsed.events);
      else if (parsed.status === 'failed') ctx.log.warn({ connection: ctx.connection.id, issue: issue.key, reason: parsed.reason }, 'jira issue not reconciled');
      const at = Date.parse(updated.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
      if (Number.isFinite(at) && at > Date.parse(since)) since = new Date(at).toISOString();
      seen.add(mark);
    }
    // Keep the marks the next query can return again: from the minute of (new cursor - overlap) on, as
    // JQL drops the seconds (zone offsets are whole minutes, so that minute starts on a UTC minute).
    const floor = Math.floor((Date.parse(since) - overlapMs) / 60_000) * 60_000;
    seen = new Set([...seen].filter((m) => {
      const t = Date.parse(m.slice(m.indexOf('@') + 1).replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
      return !Number.isFinite(t) || t >= floor;
    }));
    yield { events, cursor: JSON.stringify({ since, seen: [...seen] }) };
  }
}

/** Statuses a JSM approval is asked in or leaves the request in. */
const aroundApproval = new Set(['pending-approval', 'approved', 'rejected']);

/** The request's answered approvals as decisions, read from /rest/servicedeskapi/request/{key}/approval. */
async function answeredApprovals(ctx: ReconcileContext, issue: JiraIssue): Promise<CanonicalEvent[]> {
  const canonical = ctx.normalize('issue', issue);
  if (!canonical.ok || !aroundApproval.has(canonical.value.state as string)) return [];
  let approvals;
  try {
    approvals = await listApprovals(ctx.http, issue.key);
  } catch (err) {
    // Not a service request (a plain Jira issue in the project), or the hub's account is no agent there:
    // nothing to read. Anything else (rate limit, outage) fails the run, which replays this page.
    if (err instanceof HttpError && (err.status === 404 || err.status === 403)) {
      ctx.log.warn({ connection: ctx.connection.id, issue: issue.key, status: err.status }, 'jsm approvals not readable; skipped');
      return [];
    }
    throw err;
  }
  const decided = approvalDecisions(issue.key, approvals, ctx.normalize, issueLink(issue));
  if (!decided.ok) {
    ctx.log.warn({ connection: ctx.connection.id, issue: issue.key, reason: decided.reason }, 'jsm approvals not reconciled');
    return [];
  }
  return decided.events;
}
