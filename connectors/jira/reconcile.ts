// Reconciliation through /rest/api/3/search/jql, paged by the shared pager (nextPageToken; the new search
// has no total and no startAt). JQL dates have minute resolution in the user's profile time zone, so the
// query starts one minute before the cursor and issues already seen at the same `updated` are skipped.
// The cursor is JSON: { "since": ISO time of the newest update seen, "seen": ["<id>@<updated>", ...] }.
import type { CanonicalEvent, ReconcileContext, ReconcilePage } from '../../src/sdk/index.ts';
import { approvalsFieldOf, issueEvents, type JiraIssue } from './parse.ts';

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

export async function* reconcileJira(ctx: ReconcileContext): AsyncIterable<ReconcilePage> {
  const options = ctx.connection.options;
  const lookback = typeof options.reconcileLookbackMinutes === 'number' ? options.reconcileLookbackMinutes : defaultLookbackMinutes;
  const timeZone = typeof options.timeZone === 'string' ? options.timeZone : 'UTC';
  const scope = typeof options.jql === 'string' ? options.jql : typeof options.project === 'string' ? `project = "${options.project}"` : null;
  if (!scope) throw new Error(`connection ${ctx.connection.id}: set options.project or options.jql (Jira search must be bounded)`);
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
      const parsed = issueEvents(issue, ctx.normalize, { status: true, approvalsField });
      if (parsed.status === 'events') events.push(...parsed.events);
      else if (parsed.status === 'failed') ctx.log.warn({ connection: ctx.connection.id, issue: issue.key, reason: parsed.reason }, 'jira issue not reconciled');
      const at = Date.parse(updated.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
      if (Number.isFinite(at) && at > Date.parse(since)) since = new Date(at).toISOString();
      seen.add(mark);
    }
    // Keep only marks the next query can return again (within the overlap before the new cursor).
    const floor = Date.parse(since) - overlapMs;
    seen = new Set([...seen].filter((m) => {
      const t = Date.parse(m.slice(m.indexOf('@') + 1).replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
      return !Number.isFinite(t) || t >= floor;
    }));
    yield { events, cursor: JSON.stringify({ since, seen: [...seen] }) };
  }
}
