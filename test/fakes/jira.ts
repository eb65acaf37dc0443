// Fake Jira Cloud (REST v3) with Jira Service Management approvals: issues, ADF-only comments,
// transitions (204), /search/jql with nextPageToken paging (no total, fields default to id only,
// unbounded queries refused), servicedeskapi approvals (start/limit/isLastPage; only an assigned
// approver may decide, no comment field on Cloud), Basic auth email:api_token, Jira's error bodies and
// rate-limit headers. Helpers act as people in Jira and send signed `jira:issue_updated` webhooks.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basicCredentials, deliver, hmacSha256Hex, Router, startFakeServer, type FakeBase, type FakeRequest, type FakeResponse } from './fake-server.ts';

export interface JiraAccount {
  accountId: string;
  displayName: string;
  email: string;
  /** API token for Basic auth; people without one act only through helpers. */
  apiToken?: string;
}

export interface FakeJiraOptions {
  accounts?: JiraAccount[];
  /** Approvals needed for an approval to be approved (JSM condition "at least N"). Default 1. */
  approvalsRequired?: number;
  /** Minutes east of UTC of the API user's profile timezone: JQL dates are read in it, and
   * GET /rest/api/3/myself reports it (as Etc/GMT∓h, so whole hours only). Default 0 (UTC). */
  profileOffsetMinutes?: number;
  now?: () => number;
  /** Custom field id of the JSM "Approvals" field (e.g. customfield_10027): when set, issues carry their
   * approvals there as servicedeskapi ApprovalDTOs, as JSM sites do. Default: not rendered. */
  approvalsField?: string;
  /** Most issues one /search/jql page returns, whatever maxResults asks (the server "may return fewer than
   * you ask for"; default 100). */
  searchPageSize?: number;
  /** Search is eventually consistent: an issue changed less than this long ago is not found by /search/jql
   * yet, unless its id is in reconcileIssues. Default 0 (indexed at once). */
  searchLagMs?: number;
}

interface Status {
  id: string;
  name: string;
  category: { id: number; key: string; colorName: string; name: string };
}
const CAT_NEW = { id: 2, key: 'new', colorName: 'blue-gray', name: 'To Do' };
const CAT_PROGRESS = { id: 4, key: 'indeterminate', colorName: 'yellow', name: 'In Progress' };
const CAT_DONE = { id: 3, key: 'done', colorName: 'green', name: 'Done' };
export const JIRA_STATUSES: Record<string, Status> = {
  'Awaiting approval': { id: '10004', name: 'Awaiting approval', category: CAT_NEW },
  'Awaiting implementation': { id: '10005', name: 'Awaiting implementation', category: CAT_PROGRESS },
  Implementing: { id: '10007', name: 'Implementing', category: CAT_PROGRESS },
  Completed: { id: '10008', name: 'Completed', category: CAT_DONE },
  Declined: { id: '10006', name: 'Declined', category: CAT_DONE },
  Canceled: { id: '10009', name: 'Canceled', category: CAT_DONE },
};
/** The change workflow: transitions available from each status. */
export const JIRA_WORKFLOW: Record<string, { id: string; name: string; to: string }[]> = {
  'Awaiting approval': [
    { id: '31', name: 'Approve', to: 'Awaiting implementation' },
    { id: '41', name: 'Decline', to: 'Declined' },
    { id: '51', name: 'Cancel', to: 'Canceled' },
  ],
  'Awaiting implementation': [
    { id: '61', name: 'Implement', to: 'Implementing' },
    { id: '51', name: 'Cancel', to: 'Canceled' },
  ],
  Implementing: [{ id: '71', name: 'Complete', to: 'Completed' }],
  Completed: [],
  Declined: [],
  Canceled: [],
};

export interface JiraIssue {
  id: string;
  key: string;
  summary: string;
  description: unknown;
  status: string;
  labels: string[];
  reporter: string;
  created: number;
  updated: number;
  histories: { id: string; author: string; created: number; items: Record<string, string | null>[] }[];
  comments: { id: string; author: string; body: unknown; created: number; public: boolean; via: 'api' | 'servicedeskapi'; properties: { key: string; value: unknown }[] }[];
  /** Site-specific custom fields (customfield_NNNNN → value), rendered as given. */
  customFields?: Record<string, unknown>;
}

export interface JsmApproval {
  id: string;
  issueKey: string;
  name: string;
  approvers: { accountId: string; decision: 'pending' | 'approved' | 'declined' }[];
  finalDecision: 'pending' | 'approved' | 'declined';
  created: number;
  completed: number | null;
}

export interface FakeJira extends FakeBase {
  /** What Jira holds: issues (with comments and history) and JSM approvals. */
  state: { issues: Map<string, JiraIssue>; approvals: JsmApproval[] };
  accounts: JiraAccount[];
  issues: Map<string, JiraIssue>;
  approvals: JsmApproval[];
  createIssue(fields: { summary: string; status?: string; labels?: string[]; description?: unknown; reporter?: string; customFields?: Record<string, unknown> }): JiraIssue;
  /** Someone moves an issue in the Jira UI. */
  transitionAs(accountId: string, key: string, transitionName: string): void;
  addApproval(key: string, name: string, approverAccountIds: string[]): JsmApproval;
  /** An approver decides in the JSM portal. */
  decideAs(accountId: string, approvalId: string, decision: 'approve' | 'decline'): JsmApproval;
  /** Renders an issue as GET /rest/api/3/issue returns it (all fields). */
  render(key: string): Record<string, unknown>;
  /** Sends a `jira:issue_updated` webhook for the issue; changelog items default to its latest change. */
  sendIssueUpdated(
    url: string,
    opts: { key: string; secret?: string; actor?: string; items?: Record<string, string | null>[]; eventType?: string; identifier?: string; retry?: number },
  ): Promise<{ status: number; body: string; identifier: string; payload: Record<string, unknown> }>;
  /** Sends a `jira:issue_created` webhook for the issue (the issue_updated envelope without changelog). */
  sendIssueCreated(
    url: string,
    opts: { key: string; secret?: string; actor?: string; identifier?: string },
  ): Promise<{ status: number; body: string; identifier: string; payload: Record<string, unknown> }>;
}

export const DEFAULT_ACCOUNTS: JiraAccount[] = [
  { accountId: '712020:hub-bot', displayName: 'Approval Hub', email: 'hub@acme.example', apiToken: 'jira-api-token' },
  { accountId: '5b10ac8d82e05b22cc7d4ef5', displayName: 'Mia Krystof', email: 'mia.krystof@acme.example', apiToken: 'mia-api-token' },
  { accountId: '5b10a2844c20165700ede21g', displayName: 'Beth Anglin', email: 'beth.anglin@acme.example' },
];

/** A node of an ADF tree: an object with a type, its content (if any) a list of nodes, and a text node's
 * text non-empty (the ADF schema's minLength 1: Jira refuses {"type":"text","text":""}). */
function isAdfNode(v: unknown): boolean {
  const n = v as { type?: unknown; content?: unknown; text?: unknown };
  if (!n || typeof n !== 'object' || typeof n.type !== 'string') return false;
  if (n.type === 'text' && (typeof n.text !== 'string' || n.text === '')) return false;
  return n.content === undefined || (Array.isArray(n.content) && n.content.every(isAdfNode));
}
function isAdf(v: unknown): boolean {
  const d = v as { type?: unknown; version?: unknown; content?: unknown };
  return !!d && typeof d === 'object' && d.type === 'doc' && d.version === 1 && Array.isArray(d.content) && d.content.every(isAdfNode);
}
const jiraError = (messages: string[], errors: Record<string, string> = {}) => ({ errorMessages: messages, errors });
const sdError = (message: string, key: string) => ({ errorMessage: message, i18nErrorMessage: { i18nKey: key, parameters: [] } });

/** Jira's timestamp format, in a time zone `offsetMinutes` east of UTC: 2024-11-24T14:20:00.118+0100. */
export function jiraTime(ms: number, offsetMinutes = 0): string {
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
  return new Date(ms + offsetMinutes * 60_000).toISOString().replace('Z', zone);
}

interface JqlCondition {
  field: string;
  op: string;
  values: string[];
}

export class JqlError extends Error {}

/** The JQL subset the hub uses: field op value joined by AND, ORDER BY field [ASC|DESC]. */
export function parseJql(jql: string): { conditions: JqlCondition[]; order: { field: string; desc: boolean } | null } {
  const m = /^(.*?)(?:\s+ORDER\s+BY\s+(\w+)(?:\s+(ASC|DESC))?)?\s*$/is.exec(jql.trim()) ?? [];
  const where = (m[1] ?? '').trim();
  const order = m[2] ? { field: m[2].toLowerCase(), desc: (m[3] ?? 'ASC').toUpperCase() === 'DESC' } : null;
  const conditions: JqlCondition[] = [];
  if (/^ORDER\s+BY/i.test(where)) return { conditions, order: parseJql(`x=x ${where}`).order };
  if (/\s(OR|NOT)\s/i.test(where.replace(/"[^"]*"/g, '""')) && !/\snot\s+in\s/i.test(where)) {
    throw new JqlError('The fake Jira supports only AND between conditions');
  }
  // Redundant parentheses around conditions, as in "(project = CHG) AND updated >= ...", go; value lists stay.
  let flat = where;
  for (let prev = ''; prev !== flat; ) {
    prev = flat;
    flat = flat.replace(/\(\s*([^()]*?(?:=|>|<|~)[^()]*?)\s*\)/g, '$1');
  }
  if (flat) {
    for (const part of flat.split(/\s+AND\s+/i)) {
      const c = /^\s*([\w.]+)\s*(!=|>=|<=|=|>|<|\bnot\s+in\b|\bin\b|~)\s*(.+?)\s*$/i.exec(part);
      if (!c) throw new JqlError(`Error in the JQL Query: Expecting operator but got '${part.trim()}'.`);
      const raw = c[3]!;
      const values = /^\(.*\)$/.test(raw)
        ? raw.slice(1, -1).split(',').map((v) => v.trim().replace(/^"(.*)"$/, '$1'))
        : [raw.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1')];
      conditions.push({ field: c[1]!.toLowerCase(), op: c[2]!.toLowerCase().replace(/\s+/g, ' '), values });
    }
  }
  return { conditions, order };
}

export async function startFakeJira(opts: FakeJiraOptions = {}): Promise<FakeJira> {
  const now = opts.now ?? Date.now;
  const accounts = opts.accounts ?? DEFAULT_ACCOUNTS;
  const approvalsRequired = opts.approvalsRequired ?? 1;
  const offsetMs = (opts.profileOffsetMinutes ?? 0) * 60_000;
  const offsetHours = (opts.profileOffsetMinutes ?? 0) / 60;
  if (!Number.isInteger(offsetHours)) throw new Error('fake Jira: profileOffsetMinutes must be whole hours');
  // IANA's Etc/GMT zones count the other way: UTC+1 is Etc/GMT-1.
  const profileZone = offsetHours === 0 ? 'UTC' : `Etc/GMT${offsetHours > 0 ? '-' : '+'}${Math.abs(offsetHours)}`;
  // Jira writes the times it answers with in the API user's profile time zone (+0100, -0500), not in UTC.
  const time = (ms: number) => jiraTime(ms, opts.profileOffsetMinutes ?? 0);
  const issues = new Map<string, JiraIssue>();
  const approvals: JsmApproval[] = [];
  let nextIssue = 10041;
  let nextId = 10300;
  let nextApproval = 6;
  let baseUrl = '';

  const account = (id: string) => {
    const a = accounts.find((x) => x.accountId === id);
    if (!a) throw new Error(`fake Jira: no account ${id}`);
    return a;
  };
  const user = (id: string) => {
    const a = account(id);
    return { self: `${baseUrl}/rest/api/3/user?accountId=${a.accountId}`, accountId: a.accountId, displayName: a.displayName, active: true, timeZone: 'UTC', accountType: 'atlassian' };
  };
  const statusJson = (name: string) => {
    const s = JIRA_STATUSES[name]!;
    return { self: `${baseUrl}/rest/api/3/status/${s.id}`, name: s.name, id: s.id, statusCategory: { self: `${baseUrl}/rest/api/3/statuscategory/${s.category.id}`, ...s.category } };
  };

  function allFields(i: JiraIssue): Record<string, unknown> {
    return {
      summary: i.summary,
      description: i.description,
      status: statusJson(i.status),
      issuetype: { self: `${baseUrl}/rest/api/3/issuetype/10002`, id: '10002', name: 'Change', subtask: false, hierarchyLevel: 0 },
      project: { self: `${baseUrl}/rest/api/3/project/10000`, id: '10000', key: i.key.split('-')[0], name: 'Change Management', projectTypeKey: 'service_desk' },
      labels: i.labels,
      reporter: user(i.reporter),
      creator: user(i.reporter),
      assignee: null,
      priority: { self: `${baseUrl}/rest/api/3/priority/3`, name: 'Medium', id: '3' },
      created: time(i.created),
      updated: time(i.updated),
      ...(i.customFields ?? {}),
      ...(opts.approvalsField ? { [opts.approvalsField]: approvals.filter((a) => a.issueKey === i.key).map((a) => renderApproval(a, null)) } : {}),
    };
  }
  function renderIssue(i: JiraIssue, fieldsParam: string[] | null, expandChangelog = false): Record<string, unknown> {
    const all = allFields(i);
    const wanted = !fieldsParam || fieldsParam.includes('*all') || fieldsParam.includes('*navigable') ? Object.keys(all) : fieldsParam;
    const fields: Record<string, unknown> = {};
    for (const f of wanted) if (f in all) fields[f] = all[f];
    return {
      expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
      id: i.id,
      self: `${baseUrl}/rest/api/3/issue/${i.id}`,
      key: i.key,
      fields,
      ...(expandChangelog
        ? {
            changelog: {
              startAt: 0,
              maxResults: i.histories.length,
              total: i.histories.length,
              histories: i.histories.map((h) => ({ id: h.id, author: user(h.author), created: time(h.created), items: h.items })),
            },
          }
        : {}),
    };
  }

  function findIssue(key: string): JiraIssue | undefined {
    return issues.get(key) ?? [...issues.values()].find((i) => i.id === key);
  }
  const notFound: FakeResponse = { status: 404, body: jiraError(['Issue does not exist or you do not have permission to see it.']) };

  function move(i: JiraIssue, to: string, by: string): void {
    const from = i.status;
    i.status = to;
    i.updated = now();
    i.histories.push({
      id: String(nextId++),
      author: by,
      created: i.updated,
      items: [{ field: 'status', fieldtype: 'jira', fieldId: 'status', from: JIRA_STATUSES[from]!.id, fromString: from, to: JIRA_STATUSES[to]!.id, toString: to }],
    });
  }

  function addComment(i: JiraIssue, by: string, body: unknown, via: 'api' | 'servicedeskapi', isPublic: boolean, properties: { key: string; value: unknown }[] = []) {
    const c = { id: String(nextId++), author: by, body, created: now(), public: isPublic, via, properties };
    i.comments.push(c);
    i.updated = c.created;
    return c;
  }
  const renderComment = (i: JiraIssue, c: JiraIssue['comments'][number], withProperties = false) => ({
    ...(withProperties ? { properties: c.properties } : {}),
    self: `${baseUrl}/rest/api/3/issue/${i.id}/comment/${c.id}`,
    id: c.id,
    author: user(c.author),
    body: c.body,
    updateAuthor: user(c.author),
    created: time(c.created),
    updated: time(c.created),
    jsdPublic: c.public,
  });

  /** JSM's DateDTO: iso8601 without milliseconds, jira with them (2024-11-24T13:00:00+0100 / …13:00:00.000+0100). */
  const dateDto = (ms: number) => ({ iso8601: time(ms).replace(/\.\d{3}(?=[+-])/, ''), jira: time(ms), friendly: new Date(ms).toUTCString(), epochMillis: ms });

  function renderApproval(a: JsmApproval, caller: string | null) {
    const epoch = dateDto;
    return {
      id: a.id,
      name: a.name,
      finalDecision: a.finalDecision,
      canAnswerApproval: a.finalDecision === 'pending' && a.approvers.some((x) => x.accountId === caller && x.decision === 'pending'),
      approvers: a.approvers.map((x) => ({ approver: user(x.accountId), approverDecision: x.decision })),
      createdDate: epoch(a.created),
      ...(a.completed ? { completedDate: epoch(a.completed) } : {}),
      _links: { self: `${baseUrl}/rest/servicedeskapi/request/${findIssue(a.issueKey)!.id}/approval/${a.id}` },
    };
  }

  function decide(a: JsmApproval, accountId: string, decision: 'approve' | 'decline'): FakeResponse | null {
    if (a.finalDecision !== 'pending') return { status: 400, body: sdError('This approval has already been completed.', 'sd.approval.error.already.completed') };
    const mine = a.approvers.find((x) => x.accountId === accountId);
    if (!mine || mine.decision !== 'pending') return { status: 403, body: sdError('You are not an approver for this request.', 'sd.approval.error.not.approver') };
    mine.decision = decision === 'approve' ? 'approved' : 'declined';
    const issue = findIssue(a.issueKey)!;
    issue.updated = now();
    if (mine.decision === 'declined') a.finalDecision = 'declined';
    else if (a.approvers.filter((x) => x.decision === 'approved').length >= Math.min(approvalsRequired, a.approvers.length)) a.finalDecision = 'approved';
    if (a.finalDecision !== 'pending') {
      a.completed = now();
      // The JSM workflow moves the request on when the approval completes.
      if (issue.status === 'Awaiting approval') move(issue, a.finalDecision === 'approved' ? 'Awaiting implementation' : 'Declined', accountId);
    }
    return null;
  }

  function search(req: FakeRequest, params: { jql: string; fields: string[] | null; maxResults: number; nextPageToken: string | null; reconcileIssues: number[] }): FakeResponse {
    let parsed;
    try {
      parsed = parseJql(params.jql);
    } catch (err) {
      return { status: 400, body: jiraError([(err as Error).message]) };
    }
    if (parsed.conditions.length === 0) {
      return { status: 400, body: jiraError(['Unbounded JQL queries are not allowed here. Please add a search restriction to your query.']) };
    }
    const dateOf = (v: string): number => {
      const m = /^(\d{4})[-/](\d{2})[-/](\d{2})(?:\s+(\d{2}):(\d{2}))?$/.exec(v);
      if (!m) throw new JqlError(`Date value '${v}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.`);
      // JQL dates are in the user's profile timezone, with minute resolution.
      return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0)) - offsetMs;
    };
    let rows: JiraIssue[];
    try {
      const indexedUntil = now() - (opts.searchLagMs ?? 0);
      rows = [...issues.values()].filter((i) => (i.updated <= indexedUntil || params.reconcileIssues.includes(Number(i.id))) &&
        parsed.conditions.every((c) => {
          let actual: string | number;
          let values: (string | number)[] = c.values;
          switch (c.field) {
            case 'project': actual = i.key.split('-')[0]!; break;
            case 'key': case 'issuekey': actual = i.key; break;
            case 'status': actual = i.status; break;
            case 'labels': return c.op === '=' ? i.labels.includes(c.values[0]!) : c.op === 'in' ? c.values.some((v) => i.labels.includes(v)) : false;
            case 'updated': case 'created':
              actual = c.field === 'updated' ? i.updated : i.created;
              values = c.values.map(dateOf);
              break;
            default:
              throw new JqlError(`Field '${c.field}' does not exist or you do not have permission to view it.`);
          }
          const v = values[0]!;
          switch (c.op) {
            case '=': return typeof actual === 'string' ? actual.toLowerCase() === String(v).toLowerCase() : actual === v;
            case '!=': return typeof actual === 'string' ? actual.toLowerCase() !== String(v).toLowerCase() : actual !== v;
            case '>=': return actual >= v;
            case '<=': return actual <= v;
            case '>': return actual > v;
            case '<': return actual < v;
            case 'in': return values.some((x) => String(x).toLowerCase() === String(actual).toLowerCase());
            case 'not in': return !values.some((x) => String(x).toLowerCase() === String(actual).toLowerCase());
            default: throw new JqlError(`The operator '${c.op}' is not supported by the '${c.field}' field.`);
          }
        }),
      );
    } catch (err) {
      return { status: 400, body: jiraError([(err as Error).message]) };
    }
    if (parsed.order) {
      const o = parsed.order;
      const val = (i: JiraIssue) => (o.field === 'updated' ? i.updated : o.field === 'created' ? i.created : o.field === 'key' ? Number(i.id) : i.id);
      rows.sort((a, b) => (o.desc ? -1 : 1) * ((val(a) as number) - (val(b) as number)) || Number(a.id) - Number(b.id));
    }
    let offset = 0;
    if (params.nextPageToken) {
      const t = (() => {
        try {
          return JSON.parse(Buffer.from(params.nextPageToken, 'base64url').toString('utf8')) as { o: number; q: string };
        } catch {
          return null;
        }
      })();
      if (!t || t.q !== params.jql) return { status: 400, body: jiraError(['The provided next page token is invalid or expired.']) };
      offset = t.o;
    }
    // The server may return fewer than asked: at most searchPageSize (100) issues a page here.
    const limit = Math.min(Math.max(1, params.maxResults), opts.searchPageSize ?? 100);
    const page = rows.slice(offset, offset + limit);
    const isLast = offset + limit >= rows.length;
    return {
      status: 200,
      body: {
        issues: page.map((i) => (params.fields ? renderIssue(i, params.fields) : { id: i.id })),
        ...(isLast ? {} : { nextPageToken: Buffer.from(JSON.stringify({ o: offset + limit, q: params.jql })).toString('base64url') }),
        isLast,
      },
    };
  }

  /** /search/jql takes these parameters only. Jira ignores others, so a client paging the old /search way
   * (startAt) would read the first page again and again; the fake names the parameter instead. */
  const SEARCH_PARAMS = ['jql', 'nextPageToken', 'maxResults', 'fields', 'expand', 'properties', 'fieldsByKeys', 'failFast', 'reconcileIssues'];
  function strayParam(names: string[]): FakeResponse | null {
    const stray = names.find((n) => !SEARCH_PARAMS.includes(n));
    if (stray === undefined) return null;
    const hint = stray === 'startAt' ? ' (it has no startAt: page with nextPageToken)' : '';
    return { status: 400, body: jiraError([`'${stray}' is not a parameter of /rest/api/3/search/jql${hint}.`]) };
  }

  const approvalsOf = (i: JiraIssue) => approvals.filter((a) => a.issueKey === i.key);
  function findApproval(req: FakeRequest): JsmApproval | FakeResponse {
    const i = findIssue(req.params.key!);
    if (!i) return { status: 404, body: sdError('Request does not exist or you do not have permission to see it.', 'sd.request.error.not.found') };
    if (!/^\d+$/.test(req.params.approvalId!)) return { status: 404, body: sdError('Not Found', 'sd.approval.error.not.found') };
    const a = approvalsOf(i).find((x) => x.id === req.params.approvalId);
    return a ?? { status: 404, body: sdError('The approval does not exist.', 'sd.approval.error.not.found') };
  }

  const router = new Router()
    .on('GET', '/rest/api/3/myself', (req) => {
      const a = account(req.caller!);
      return { status: 200, body: { ...user(a.accountId), emailAddress: a.email, timeZone: profileZone } };
    })
    .on('GET', '/rest/api/3/issue/:key', (req) => {
      const i = findIssue(req.params.key!);
      if (!i) return notFound;
      const f = req.query.get('fields');
      return { status: 200, body: renderIssue(i, f ? f.split(',').map((x) => x.trim()) : null, (req.query.get('expand') ?? '').split(',').includes('changelog')) };
    })
    .on('PUT', '/rest/api/3/issue/:key', (req) => {
      const i = findIssue(req.params.key!);
      if (!i) return notFound;
      const body = req.body as { fields?: Record<string, unknown>; update?: Record<string, unknown> } | null;
      if (!body || typeof body !== 'object') return { status: 400, body: jiraError(['No content to map due to end-of-input']) };
      // Checked whole before anything changes: Jira applies an edit all or nothing. `fields` sets a value,
      // `update` lists operations ({set}, and {add}/{remove} on labels); the fake edits summary, labels, description.
      const errors: Record<string, string> = {};
      const edits: (() => void)[] = [];
      const set = (k: string, v: unknown) => {
        if (k === 'summary' && typeof v === 'string' && v !== '') edits.push(() => (i.summary = v));
        else if (k === 'labels' && Array.isArray(v) && v.every((x) => typeof x === 'string')) edits.push(() => (i.labels = [...v]));
        else if (k === 'description' && (v === null || isAdf(v))) edits.push(() => (i.description = v));
        else if (k === 'description') errors.description = 'Operation value must be an Atlassian Document (see the Atlassian Document Format)';
        else if (k === 'summary' || k === 'labels') errors[k] = `Invalid value for field '${k}'.`;
        else errors[k] = `Field '${k}' cannot be set. It is not on the appropriate screen, or unknown.`;
      };
      for (const [k, v] of Object.entries(body.fields ?? {})) set(k, v);
      for (const [k, ops] of Object.entries(body.update ?? {})) {
        if (k in (body.fields ?? {})) {
          errors[k] = `Field '${k}' cannot be both set and updated.`;
          continue;
        }
        for (const op of Array.isArray(ops) ? (ops as Record<string, unknown>[]) : [null]) {
          const [verb, value] = op && typeof op === 'object' && Object.keys(op).length === 1 ? Object.entries(op)[0]! : ['', undefined];
          if (verb === 'set') set(k, value);
          else if (k === 'labels' && (verb === 'add' || verb === 'remove') && typeof value === 'string') {
            edits.push(() => (i.labels = verb === 'add' ? [...new Set([...i.labels, value])] : i.labels.filter((l) => l !== value)));
          } else errors[k] = `Field '${k}': the operation '${verb || JSON.stringify(op)}' is not supported.`;
        }
      }
      if (Object.keys(errors).length) return { status: 400, body: jiraError([], errors) };
      for (const edit of edits) edit();
      i.updated = now();
      return { status: 204 };
    })
    .on('POST', '/rest/api/3/issue', (req) => {
      const f = (req.body as { fields?: Record<string, unknown> } | null)?.fields;
      const errors: Record<string, string> = {};
      if (!f || typeof f !== 'object') return { status: 400, body: jiraError([], { fields: 'fields is required' }) };
      if (!(f.project as { key?: string } | undefined)?.key) errors.project = 'Specify a valid project ID or key';
      if (!(f.issuetype as { id?: string } | undefined)?.id) errors.issuetype = 'Specify an issue type';
      if (typeof f.summary !== 'string' || !f.summary) errors.summary = 'You must specify a summary of the issue.';
      if (f.description !== undefined && !isAdf(f.description)) errors.description = 'Operation value must be an Atlassian Document (see the Atlassian Document Format)';
      if (Object.keys(errors).length) return { status: 400, body: jiraError([], errors) };
      const i = create({ summary: f.summary as string, labels: (f.labels as string[] | undefined) ?? [], description: f.description ?? null, reporter: req.caller! }, (f.project as { key: string }).key);
      return { status: 201, body: { id: i.id, key: i.key, self: `${baseUrl}/rest/api/3/issue/${i.id}` } };
    })
    .on('GET', '/rest/api/3/issue/:key/comment', (req) => {
      const i = findIssue(req.params.key!);
      if (!i) return notFound;
      const orderBy = req.query.get('orderBy') ?? 'created';
      const list = [...i.comments].sort((a, b) => (orderBy.startsWith('-') ? b.created - a.created || Number(b.id) - Number(a.id) : a.created - b.created || Number(a.id) - Number(b.id)));
      const startAt = Number(req.query.get('startAt') ?? 0);
      const maxResults = Math.min(Number(req.query.get('maxResults') ?? 50), 100);
      // This page's only documented expand is renderedBody: comment properties come from POST /rest/api/3/comment/list.
      const page = list.slice(startAt, startAt + maxResults);
      return { status: 200, body: { startAt, maxResults, total: list.length, comments: page.map((c) => renderComment(i, c)) } };
    })
    .on('POST', '/rest/api/3/comment/list', (req) => {
      const ids = (req.body as { ids?: unknown } | null)?.ids;
      if (!Array.isArray(ids) || ids.length === 0 || ids.length > 1000 || ids.some((x) => !Number.isInteger(x))) {
        return { status: 400, body: jiraError([], { ids: 'A list of 1 to 1000 comment ids (integers) is required.' }) };
      }
      const withProperties = (req.query.get('expand') ?? '').split(',').includes('properties');
      const values = [...issues.values()]
        .flatMap((i) => i.comments.filter((c) => ids.includes(Number(c.id))).map((c) => renderComment(i, c, withProperties)))
        .sort((a, b) => Number(a.id) - Number(b.id));
      return { status: 200, body: { startAt: 0, maxResults: 1000, total: values.length, isLast: true, values } };
    })
    .on('POST', '/rest/api/3/issue/:key/comment', (req) => {
      const i = findIssue(req.params.key!);
      if (!i) return notFound;
      const req_ = req.body as { body?: unknown; properties?: unknown } | null;
      const body = req_?.body;
      // REST v3 takes comments in Atlassian Document Format only: a plain string is a 400.
      if (!isAdf(body)) return { status: 400, body: jiraError([], { comment: 'Comment body is not valid!' }) };
      const props = req_?.properties;
      if (props !== undefined && (!Array.isArray(props) || props.some((p) => typeof (p as { key?: unknown })?.key !== 'string'))) {
        return { status: 400, body: jiraError([], { properties: 'Entity properties must be a list of {key, value}' }) };
      }
      return { status: 201, body: renderComment(i, addComment(i, req.caller!, body, 'api', true, (props as { key: string; value: unknown }[] | undefined) ?? [])) };
    })
    .on('GET', '/rest/api/3/issue/:key/transitions', (req) => {
      const i = findIssue(req.params.key!);
      if (!i) return notFound;
      return {
        status: 200,
        body: {
          expand: 'transitions',
          transitions: JIRA_WORKFLOW[i.status]!.map((t) => ({
            id: t.id,
            name: t.name,
            to: statusJson(t.to),
            hasScreen: false,
            isGlobal: false,
            isInitial: false,
            isAvailable: true,
            isConditional: false,
            isLooped: false,
          })),
        },
      };
    })
    .on('POST', '/rest/api/3/issue/:key/transitions', (req) => {
      const i = findIssue(req.params.key!);
      if (!i) return notFound;
      const body = req.body as { transition?: { id?: unknown }; update?: { comment?: { add?: { body?: unknown } }[] } } | null;
      const id = body?.transition?.id;
      if (typeof id !== 'string' && typeof id !== 'number') return { status: 400, body: jiraError(['Missing transition id.']) };
      const t = JIRA_WORKFLOW[i.status]!.find((x) => x.id === String(id));
      if (!t) return { status: 400, body: jiraError([`Transition id '${String(id)}' is not valid for this issue.`]) };
      for (const c of body?.update?.comment ?? []) {
        if (!isAdf(c.add?.body)) return { status: 400, body: jiraError([], { comment: 'Comment body is not valid!' }) };
      }
      move(i, t.to, req.caller!);
      for (const c of body?.update?.comment ?? []) addComment(i, req.caller!, c.add!.body, 'api', true);
      return { status: 204 };
    })
    .on('GET', '/rest/api/3/search/jql', (req) => {
      const stray = strayParam([...req.query.keys()]);
      if (stray) return stray;
      const jql = req.query.get('jql');
      if (jql === null) return { status: 400, body: jiraError(['The JQL query is required.']) };
      const f = req.query.get('fields');
      const reconcileIssues = (req.query.get('reconcileIssues') ?? '').split(',').filter(Boolean).map(Number);
      return search(req, { jql, fields: f ? f.split(',').map((x) => x.trim()) : null, maxResults: Number(req.query.get('maxResults') ?? 50), nextPageToken: req.query.get('nextPageToken'), reconcileIssues });
    })
    .on('POST', '/rest/api/3/search/jql', (req) => {
      const b = req.body as { jql?: string; fields?: string[]; maxResults?: number; nextPageToken?: string; reconcileIssues?: number[] } | null;
      const stray = strayParam(Object.keys(b ?? {}));
      if (stray) return stray;
      if (!b || typeof b.jql !== 'string') return { status: 400, body: jiraError(['The JQL query is required.']) };
      return search(req, { jql: b.jql, fields: Array.isArray(b.fields) ? b.fields : null, maxResults: b.maxResults ?? 50, nextPageToken: b.nextPageToken ?? null, reconcileIssues: Array.isArray(b.reconcileIssues) ? b.reconcileIssues.map(Number) : [] });
    })
    .on('GET', '/rest/servicedeskapi/request/:key/approval', (req) => {
      const i = findIssue(req.params.key!);
      if (!i) return { status: 404, body: sdError('Request does not exist or you do not have permission to see it.', 'sd.request.error.not.found') };
      const start = Number(req.query.get('start') ?? 0);
      const limit = Math.min(Number(req.query.get('limit') ?? 50), 50);
      const all = approvalsOf(i);
      const values = all.slice(start, start + limit);
      const isLastPage = start + limit >= all.length;
      const link = (s: number) => `${baseUrl}/rest/servicedeskapi/request/${i.id}/approval?start=${s}&limit=${limit}`;
      return {
        status: 200,
        body: {
          _expands: [],
          size: values.length,
          start,
          limit,
          isLastPage,
          _links: { base: `${baseUrl}/rest/servicedeskapi`, context: '', next: isLastPage ? null : link(start + limit), prev: start > 0 ? link(Math.max(0, start - limit)) : null },
          values: values.map((a) => renderApproval(a, req.caller)),
        },
      };
    })
    .on('GET', '/rest/servicedeskapi/request/:key/approval/:approvalId', (req) => {
      const a = findApproval(req);
      if ('status' in a) return a;
      return { status: 200, body: renderApproval(a, req.caller) };
    })
    .on('POST', '/rest/servicedeskapi/request/:key/approval/:approvalId', (req) => {
      const a = findApproval(req);
      if ('status' in a) return a;
      const body = req.body as Record<string, unknown> | null;
      if (!body || typeof body !== 'object') return { status: 400, body: sdError('The request body is missing.', 'sd.request.error.body') };
      // Cloud takes only {decision}; a comment field (Data Center only) is refused.
      const extra = Object.keys(body).filter((k) => k !== 'decision');
      if (extra.length) return { status: 400, body: sdError(`Unrecognized field "${extra[0]}"`, 'sd.request.error.unrecognized.field') };
      if (body.decision !== 'approve' && body.decision !== 'decline') {
        return { status: 400, body: sdError(`Invalid decision "${String(body.decision)}": expected approve or decline.`, 'sd.approval.error.invalid.decision') };
      }
      const refused = decide(a, req.caller!, body.decision);
      if (refused) return refused;
      return { status: 200, body: renderApproval(a, req.caller) };
    })
    .on('GET', '/rest/servicedeskapi/request/:key/comment', (req) => {
      const i = findIssue(req.params.key!);
      if (!i) return { status: 404, body: sdError('Request does not exist or you do not have permission to see it.', 'sd.request.error.not.found') };
      // public / internal filter (both default true); bodies come back as text, ADF ones included.
      const wantPublic = req.query.get('public') !== 'false';
      const wantInternal = req.query.get('internal') !== 'false';
      const all = i.comments.filter((c) => (c.public ? wantPublic : wantInternal));
      const start = Number(req.query.get('start') ?? 0);
      const limit = Math.min(Number(req.query.get('limit') ?? 50), 100);
      const values = all.slice(start, start + limit);
      const text = (node: unknown): string =>
        typeof node === 'string' ? node : node && typeof node === 'object' ? ((node as { text?: string }).text ?? '') + ((node as { content?: unknown[] }).content ?? []).map(text).join('') : '';
      return {
        status: 200,
        body: {
          size: values.length,
          start,
          limit,
          isLastPage: start + limit >= all.length,
          values: values.map((c) => ({ id: c.id, body: text(c.body), public: c.public, author: user(c.author), created: { iso8601: jiraTime(c.created), epochMillis: c.created } })),
        },
      };
    })
    .on('POST', '/rest/servicedeskapi/request/:key/comment', (req) => {
      const i = findIssue(req.params.key!);
      if (!i) return { status: 404, body: sdError('Request does not exist or you do not have permission to see it.', 'sd.request.error.not.found') };
      const b = req.body as { body?: unknown; public?: unknown } | null;
      if (typeof b?.body !== 'string' || !b.body) return { status: 400, body: sdError('The comment body is required.', 'sd.comment.error.body') };
      // CommentCreateDTO.public is a boolean: "false" as a string is not an internal comment.
      if (b.public !== undefined && typeof b.public !== 'boolean') return { status: 400, body: sdError('public must be true or false.', 'sd.comment.error.public') };
      const c = addComment(i, req.caller!, b.body, 'servicedeskapi', b.public !== false);
      return { status: 201, body: { id: c.id, body: c.body, public: c.public, author: user(c.author), created: dateDto(c.created) } };
    });

  // Jira's REST resources consume JSON only: a write with a body of any other content type is a 415
  // before it reaches the resource (a form-encoded one would also fail Jira's XSRF check).
  for (const route of router.routes) {
    if (route.method !== 'POST' && route.method !== 'PUT') continue;
    const handler = route.handler;
    route.handler = (req) =>
      req.rawBody !== '' && !/^application\/json\b/i.test(req.headers['content-type'] ?? '')
        ? { status: 415, body: jiraError([`Unsupported Media Type: ${req.headers['content-type'] ?? 'no Content-Type'}; send application/json`]) }
        : handler(req);
  }

  const base = await startFakeServer(
    {
      errorBody: (_status, message) => jiraError([message]),
      rateLimited(waitMs, nowMs) {
        return {
          status: 429,
          headers: {
            'Retry-After': String(Math.ceil(waitMs / 1000)),
            'X-RateLimit-Limit': '100',
            'X-RateLimit-Remaining': '0',
            'X-RateLimit-Reset': new Date(nowMs + waitMs).toISOString(),
            'X-RateLimit-NearLimit': 'true',
            'RateLimit-Reason': 'jira-burst-based',
          },
          body: jiraError(['Rate limit exceeded.']),
        };
      },
      authenticate(req) {
        const creds = basicCredentials(req.headers.authorization);
        const a = creds ? accounts.find((x) => x.email === creds.user && x.apiToken && x.apiToken === creds.password) : undefined;
        if (!a) return { status: 401, headers: { 'WWW-Authenticate': 'Basic realm="protected-area"' }, body: jiraError(['Client must be authenticated to access this resource.']) };
        return a.accountId;
      },
    },
    router,
    { now },
  );
  baseUrl = base.url;

  function create(f: { summary: string; status?: string; labels?: string[]; description?: unknown; reporter?: string; customFields?: Record<string, unknown> }, project = 'CHG'): JiraIssue {
    const n = ++nextIssue;
    const i: JiraIssue = {
      id: String(n),
      key: `${project}-${n - 10000}`,
      summary: f.summary,
      description: f.description ?? null,
      status: f.status ?? 'Awaiting approval',
      labels: f.labels ?? [],
      reporter: f.reporter ?? accounts[0]!.accountId,
      created: now(),
      updated: now(),
      histories: [],
      comments: [],
      ...(f.customFields ? { customFields: f.customFields } : {}),
    };
    if (!JIRA_STATUSES[i.status]) throw new Error(`fake Jira: unknown status ${i.status}`);
    issues.set(i.key, i);
    return i;
  }

  const template = JSON.parse(readFileSync(new URL('./payloads/jira-issue_updated.json', import.meta.url), 'utf8')) as Record<string, unknown>;

  return {
    ...base,
    state: { issues, approvals },
    accounts,
    issues,
    approvals,
    createIssue: (f) => create(f),
    transitionAs(accountId, key, name) {
      const i = findIssue(key);
      if (!i) throw new Error(`fake Jira: no issue ${key}`);
      const t = JIRA_WORKFLOW[i.status]!.find((x) => x.name === name);
      if (!t) throw new Error(`fake Jira: no transition "${name}" from ${i.status}`);
      account(accountId);
      move(i, t.to, accountId);
    },
    addApproval(key, name, approverIds) {
      const i = findIssue(key);
      if (!i) throw new Error(`fake Jira: no issue ${key}`);
      approverIds.forEach(account);
      const a: JsmApproval = { id: String(++nextApproval), issueKey: i.key, name, approvers: approverIds.map((accountId) => ({ accountId, decision: 'pending' })), finalDecision: 'pending', created: now(), completed: null };
      approvals.push(a);
      return a;
    },
    decideAs(accountId, approvalId, decision) {
      const a = approvals.find((x) => x.id === approvalId);
      if (!a) throw new Error(`fake Jira: no approval ${approvalId}`);
      const refused = decide(a, accountId, decision);
      if (refused) throw new Error(`fake Jira: ${JSON.stringify(refused.body)}`);
      return a;
    },
    render: (key) => renderIssue(findIssue(key)!, null),
    async sendIssueCreated(url, o) {
      const i = findIssue(o.key);
      if (!i) throw new Error(`fake Jira: no issue ${o.key}`);
      const { changelog: _changelog, ...envelope } = structuredClone(template);
      const payload = {
        ...envelope,
        timestamp: now(),
        webhookEvent: 'jira:issue_created',
        issue_event_type_name: 'issue_created',
        user: user(o.actor ?? i.reporter),
        issue: { id: i.id, self: `${baseUrl}/rest/api/2/${i.id}`, key: i.key, fields: allFields(i) },
      };
      const raw = JSON.stringify(payload);
      const identifier = o.identifier ?? randomUUID();
      const headers: Record<string, string> = { 'x-atlassian-webhook-identifier': identifier, 'x-atlassian-webhook-flow': 'Primary', 'user-agent': 'Atlassian Webhook HTTP Client' };
      if (o.secret) headers['x-hub-signature'] = `sha256=${hmacSha256Hex(o.secret, raw)}`;
      const r = await deliver(url, raw, headers);
      return { ...r, identifier, payload };
    },
    async sendIssueUpdated(url, o) {
      const i = findIssue(o.key);
      if (!i) throw new Error(`fake Jira: no issue ${o.key}`);
      const last = i.histories.at(-1);
      const actor = o.actor ?? last?.author ?? i.reporter;
      const payload = {
        ...structuredClone(template),
        timestamp: now(),
        webhookEvent: 'jira:issue_updated',
        issue_event_type_name: o.eventType ?? 'issue_generic',
        user: user(actor),
        issue: { id: i.id, self: `${baseUrl}/rest/api/2/${i.id}`, key: i.key, fields: allFields(i) },
        changelog: { id: last?.id ?? String(nextId++), items: o.items ?? last?.items ?? [] },
      };
      const raw = JSON.stringify(payload);
      const identifier = o.identifier ?? randomUUID();
      const headers: Record<string, string> = {
        'x-atlassian-webhook-identifier': identifier,
        'x-atlassian-webhook-flow': 'Primary',
        'user-agent': 'Atlassian Webhook HTTP Client',
      };
      if (o.retry) headers['x-atlassian-webhook-retry'] = String(o.retry);
      if (o.secret) headers['x-hub-signature'] = `sha256=${hmacSha256Hex(o.secret, raw)}`;
      const r = await deliver(url, raw, headers);
      return { ...r, identifier, payload };
    },
  };
}
