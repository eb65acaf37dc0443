// Fake ServiceNow instance: Table API for change_request and sysapproval_approver (plus the sys_user,
// sys_user_group and cmdb_ci records their references point at), Basic auth and OAuth
// (POST /oauth_token.do), string-valued fields, reference fields as {link, value}, sys_updated_on in
// "YYYY-MM-DD HH:mm:ss" UTC, encoded queries (=, !=, >=, <=, >, <, STARTSWITH, IN, ^, ^OR, ORDERBY,
// ORDERBYDESC), sysparm_limit/offset with a Link header (no space after ';') and X-Total-Count, and
// the default change model's approval engine. Helpers act as people in the instance (approve/reject)
// and send the hub's business-rule webhook (shape from connectors/servicenow/parse.ts).
import { randomBytes } from 'node:crypto';
import { basicCredentials, bearerToken, deliver, hmacSha256Hex, Router, startFakeServer, type FakeBase, type FakeRequest, type FakeResponse } from './fake-server.ts';

type Stored = Record<string, string>;

export interface ServiceNowUser {
  sys_id: string;
  user_name: string;
  email: string;
  name: string;
  password?: string;
}

export interface FakeServiceNowOptions {
  /** API users (Basic auth). Default: hub.integration / hub-password. */
  users?: Omit<ServiceNowUser, 'sys_id'>[];
  /** OAuth client for /oauth_token.do. Default: hub-client / hub-client-secret; tokens act as `oauthUser`. */
  oauthClient?: { clientId: string; clientSecret: string };
  oauthUser?: string;
  tokenLifetimeSeconds?: number;
  /** Refuse moving a change to Scheduled/Implement/Review/Closed before it is approved (default true). */
  enforceStateModel?: boolean;
  /** Most records one page returns, whatever sysparm_limit asks (an instance caps it; default 10000). */
  maxPageSize?: number;
  now?: () => number;
}

export interface JournalEntry {
  table: string;
  sysId: string;
  field: 'work_notes' | 'comments';
  at: string;
  by: string;
  text: string;
}

const JOURNAL_FIELDS = ['work_notes', 'comments'];
/** Reference fields per table: field → [table the value lives in, table named in the link]. */
const REFERENCES: Record<string, Record<string, [string, string]>> = {
  change_request: {
    requested_by: ['sys_user', 'sys_user'],
    opened_by: ['sys_user', 'sys_user'],
    assigned_to: ['sys_user', 'sys_user'],
    assignment_group: ['sys_user_group', 'sys_user_group'],
    cmdb_ci: ['cmdb_ci', 'cmdb_ci'],
  },
  sysapproval_approver: {
    approver: ['sys_user', 'sys_user'],
    sysapproval: ['change_request', 'task'],
    document_id: ['change_request', 'change_request'],
    group: ['sysapproval_group', 'sysapproval_group'],
  },
};
const TABLES = ['change_request', 'sysapproval_approver', 'sys_user', 'sys_user_group', 'sysapproval_group', 'cmdb_ci', 'sys_journal_field'];
/** Each table's columns (from the base system dictionary; instance custom u_ columns are not modelled). A
 * real instance ignores a column it does not have: in a write (the value is dropped), in sysparm_fields
 * (left out of the answer) and in sysparm_query (the condition is dropped, so more rows come back). The
 * fake drops and omits the same way, but refuses such a query with 400, as it does an unparsable one. */
const SYS_COLUMNS = ['sys_id', 'sys_created_on', 'sys_created_by', 'sys_updated_on', 'sys_updated_by', 'sys_mod_count', 'sys_class_name', 'sys_domain', 'sys_domain_path', 'sys_tags'];
const TASK_COLUMNS = [
  'number', 'short_description', 'description', 'state', 'approval', 'active', 'assignment_group', 'assigned_to', 'opened_by', 'opened_at', 'closed_at',
  'closed_by', 'close_notes', 'priority', 'impact', 'urgency', 'correlation_id', 'correlation_display', 'work_notes', 'comments', 'cmdb_ci',
  'business_service', 'service_offering', 'company', 'location', 'due_date', 'parent', 'watch_list', 'work_notes_list', 'approval_history', 'approval_set',
  'upon_approval', 'upon_reject', 'contact_type', 'escalation', 'made_sla', 'order', 'reassignment_count', 'time_worked', 'activity_due', 'expected_start',
  'work_start', 'work_end', 'follow_up', 'group_list', 'additional_assignee_list', 'knowledge', 'sla_due', 'calendar_duration', 'business_duration',
];
const COLUMNS: Record<string, string[]> = {
  change_request: [
    ...TASK_COLUMNS, 'type', 'category', 'risk', 'risk_impact_analysis', 'justification', 'implementation_plan', 'backout_plan', 'test_plan', 'start_date',
    'end_date', 'requested_by', 'requested_by_date', 'phase', 'phase_state', 'reason', 'close_code', 'chg_model', 'std_change_producer_version', 'on_hold',
    'on_hold_reason', 'conflict_status', 'conflict_last_run', 'cab_required', 'cab_date', 'cab_delegate', 'cab_recommendation', 'review_date',
    'review_status', 'review_comments', 'change_plan', 'outside_maintenance_schedule', 'production_system', 'scope', 'unauthorized',
  ],
  sysapproval_approver: [
    'approver', 'state', 'sysapproval', 'document_id', 'source_table', 'group', 'comments', 'due_date', 'expected_start', 'order', 'approval_source',
    'approval_column', 'approval_journal_column', 'wf_activity', 'iteration',
  ],
  sys_user: ['user_name', 'email', 'name', 'first_name', 'last_name', 'active', 'title', 'department', 'manager', 'phone', 'locked_out'],
  sys_user_group: ['name', 'description', 'manager', 'email', 'active', 'type', 'parent'],
  sysapproval_group: ['name', 'description', 'manager', 'email', 'active', 'type', 'parent'],
  cmdb_ci: ['name', 'operational_status', 'install_status', 'short_description', 'owned_by', 'support_group', 'ip_address', 'fqdn'],
  sys_journal_field: ['name', 'element_id', 'element', 'value'],
};
/** The sysparm_* parameters the Table API documents for each call. */
const READ_PARAMS = ['sysparm_display_value', 'sysparm_exclude_reference_link', 'sysparm_fields', 'sysparm_view', 'sysparm_query_no_domain'];
const WRITE_PARAMS = ['sysparm_display_value', 'sysparm_exclude_reference_link', 'sysparm_fields', 'sysparm_input_display_value', 'sysparm_suppress_auto_sys_field', 'sysparm_view'];
const SYSPARMS: Record<string, string[]> = {
  'GET list': [...READ_PARAMS, 'sysparm_query', 'sysparm_limit', 'sysparm_offset', 'sysparm_no_count', 'sysparm_suppress_pagination_header', 'sysparm_query_category'],
  'GET record': READ_PARAMS,
  POST: WRITE_PARAMS,
  PATCH: [...WRITE_PARAMS, 'sysparm_query_no_domain'],
  PUT: [...WRITE_PARAMS, 'sysparm_query_no_domain'],
};
const DATE_TIME_COLUMNS = ['sys_created_on', 'sys_updated_on', 'opened_at', 'closed_at', 'start_date', 'end_date', 'due_date', 'expected_start', 'work_start', 'work_end', 'requested_by_date', 'cab_date', 'sla_due', 'activity_due', 'follow_up', 'conflict_last_run', 'review_date'];
const SYSPARM_FLAGS = ['sysparm_exclude_reference_link', 'sysparm_no_count', 'sysparm_suppress_pagination_header', 'sysparm_input_display_value', 'sysparm_suppress_auto_sys_field', 'sysparm_query_no_domain'];
export function isColumn(table: string, field: string): boolean {
  return SYS_COLUMNS.includes(field) || (COLUMNS[table]?.includes(field) ?? false);
}
/** Whether a field, dot-walked through references (approver.email), names a column. */
function isFieldPath(table: string, path: string): boolean {
  const [head, ...rest] = path.split('.');
  if (!isColumn(table, head!)) return false;
  if (rest.length === 0) return true;
  const ref = REFERENCES[table]?.[head!];
  return ref !== undefined && isFieldPath(ref[0], rest.join('.'));
}
const DISPLAY_FIELD: Record<string, string> = { sys_user: 'name', sys_user_group: 'name', sysapproval_group: 'name', cmdb_ci: 'name', change_request: 'number' };
/** States of the default change model that need an approved change. */
const NEEDS_APPROVAL = ['-2', '-1', '0', '3'];
const STATE_NAMES: Record<string, string> = { '-5': 'New', '-4': 'Assess', '-3': 'Authorize', '-2': 'Scheduled', '-1': 'Implement', '0': 'Review', '3': 'Closed', '4': 'Canceled' };

export function snTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}
const sysId = () => randomBytes(16).toString('hex');

function snError(message: string, detail: string | null = null) {
  return { error: { message, detail }, status: 'failure' };
}

interface Condition {
  or: boolean;
  field: string;
  op: string;
  value: string;
}

export class EncodedQueryError extends Error {}

/** Parses the encoded query subset the hub uses. Real instances silently ignore a bad condition and
 * return every record; the fake refuses it with 400 so a hub bug shows up in tests instead. */
export function parseEncodedQuery(q: string): { conditions: Condition[]; order: { field: string; desc: boolean }[] } {
  const conditions: Condition[] = [];
  const order: { field: string; desc: boolean }[] = [];
  if (!q) return { conditions, order };
  // "^^" is a literal caret inside a value (what connectors/servicenow/table-api.ts queryValue writes).
  const parts = q.split(/(?<!\^)\^(?!\^)/).map((p) => p.replaceAll('^^', '^'));
  for (let i = 0; i < parts.length; i++) {
    let part = parts[i]!;
    if (part === '') continue;
    let or = false;
    if (part.startsWith('ORDERBYDESC')) {
      order.push({ field: part.slice(11), desc: true });
      continue;
    }
    if (part.startsWith('ORDERBY')) {
      order.push({ field: part.slice(7), desc: false });
      continue;
    }
    if (part.startsWith('OR') && i > 0 && /^OR[a-z_]/.test(part)) {
      or = true;
      part = part.slice(2);
    }
    const m = /^([a-z_][a-z0-9_.]*?)(>=|<=|!=|>|<|=|STARTSWITH|ENDSWITH|LIKE|NOT IN|IN|ISEMPTY|ISNOTEMPTY)(.*)$/.exec(part);
    if (!m) throw new EncodedQueryError(`cannot parse condition "${part}"`);
    conditions.push({ or, field: m[1]!, op: m[2]!, value: m[3]! });
  }
  return { conditions, order };
}

function compare(a: string, b: string): number {
  if (/^-?\d+(\.\d+)?$/.test(a) && /^-?\d+(\.\d+)?$/.test(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

function test(value: string, c: Condition): boolean {
  switch (c.op) {
    case '=': return value === c.value;
    case '!=': return value !== c.value;
    case '>=': return compare(value, c.value) >= 0;
    case '<=': return compare(value, c.value) <= 0;
    case '>': return compare(value, c.value) > 0;
    case '<': return compare(value, c.value) < 0;
    case 'STARTSWITH': return value.startsWith(c.value);
    case 'ENDSWITH': return value.endsWith(c.value);
    case 'LIKE': return value.toLowerCase().includes(c.value.toLowerCase());
    case 'IN': return c.value.split(',').includes(value);
    case 'NOT IN': return !c.value.split(',').includes(value);
    case 'ISEMPTY': return value === '';
    case 'ISNOTEMPTY': return value !== '';
    default: return false;
  }
}

export interface FakeServiceNow extends FakeBase {
  /** Everything the instance holds: records by table and sys_id, and journal entries. */
  state: { tables: Map<string, Map<string, Stored>>; journal: JournalEntry[] };
  tables: Map<string, Map<string, Stored>>;
  journal: JournalEntry[];
  addUser(user: Omit<ServiceNowUser, 'sys_id'>): ServiceNowUser;
  user(userName: string): ServiceNowUser;
  /** Seeds a change_request directly (as if someone created it in the UI). Returns the stored record. */
  createChange(fields: Record<string, string>, by?: string): Stored;
  /** Adds a requested approval for `userName` on the change (as the approval engine does). */
  requestApproval(changeSysId: string, userName: string): Stored;
  /** A person approves/rejects their approval in the instance (not through the hub). */
  approve(approvalSysId: string, asUserName: string, comments?: string): Stored;
  reject(approvalSysId: string, asUserName: string, comments?: string): Stored;
  record(table: string, sysId: string): Stored | undefined;
  approvalsFor(changeSysId: string): Stored[];
  /** The JSON connectors/servicenow/business-rule.js posts (read by connectors/servicenow/parse.ts). */
  businessRuleBody(table: 'change_request' | 'sysapproval_approver', sysId: string, changed: string[]): Record<string, unknown>;
  /** Posts the business-rule webhook for a record with its X-Approval-Hub-Event/-Delivery headers, signed
   * with X-Hub-Signature-256 (or Basic auth, the alternative the connector accepts). */
  sendBusinessRule(
    url: string,
    table: 'change_request' | 'sysapproval_approver',
    sysId: string,
    changed: string[],
    auth: { secret: string } | { username: string; password: string },
  ): Promise<{ status: number; body: string }>;
  /** Posts any JSON body as the business rule would, for shapes the helper does not build. */
  sendWebhook(url: string, body: unknown, auth: { secret: string } | { username: string; password: string }): Promise<{ status: number; body: string }>;
  /** Makes every issued OAuth token invalid (as a revoked or expired token). */
  revokeTokens(): void;
}

export async function startFakeServiceNow(opts: FakeServiceNowOptions = {}): Promise<FakeServiceNow> {
  const now = opts.now ?? Date.now;
  const enforceStateModel = opts.enforceStateModel ?? true;
  const maxPageSize = opts.maxPageSize ?? 10000;
  const oauthClient = opts.oauthClient ?? { clientId: 'hub-client', clientSecret: 'hub-client-secret' };
  const tokenLifetime = opts.tokenLifetimeSeconds ?? 1799;
  const tables = new Map<string, Map<string, Stored>>(TABLES.map((t) => [t, new Map()]));
  const journal: JournalEntry[] = [];
  const tokens = new Map<string, { user: string; expiresAt: number }>();
  const refreshTokens = new Map<string, string>();
  let changeNumber = 30011;
  let baseUrl = '';

  const t = (name: string) => tables.get(name)!;
  function addUser(u: Omit<ServiceNowUser, 'sys_id'>): ServiceNowUser {
    const rec: ServiceNowUser = { sys_id: sysId(), ...u };
    const stored: Stored = { sys_id: rec.sys_id, user_name: u.user_name, email: u.email, name: u.name, active: 'true' };
    t('sys_user').set(rec.sys_id, stored);
    passwords.set(u.user_name, u.password ?? null);
    return rec;
  }
  const passwords = new Map<string, string | null>();
  for (const u of opts.users ?? [{ user_name: 'hub.integration', email: 'hub@acme.example', name: 'Approval Hub', password: 'hub-password' }]) addUser(u);
  for (const u of [
    { user_name: 'beth.anglin', email: 'beth.anglin@acme.example', name: 'Beth Anglin' },
    { user_name: 'mia.krystof', email: 'mia.krystof@acme.example', name: 'Mia Krystof' },
  ]) {
    if (![...t('sys_user').values()].some((r) => r.user_name === u.user_name)) addUser(u);
  }
  const oauthUser = opts.oauthUser ?? [...t('sys_user').values()][0]!.user_name!;
  const group = { sys_id: sysId(), name: 'Change Advisory Board' };
  t('sys_user_group').set(group.sys_id, { ...group });
  t('sysapproval_group').set(group.sys_id, { ...group });
  const ci = { sys_id: sysId(), name: 'payments-api' };
  t('cmdb_ci').set(ci.sys_id, { ...ci });

  function user(userName: string): ServiceNowUser {
    const r = [...t('sys_user').values()].find((u) => u.user_name === userName);
    if (!r) throw new Error(`fake ServiceNow: no user "${userName}"`);
    return r as unknown as ServiceNowUser;
  }

  function toStored(v: unknown): string {
    if (v === null || v === undefined) return '';
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (typeof v === 'object' && typeof (v as { value?: unknown }).value === 'string') return (v as { value: string }).value;
    return JSON.stringify(v);
  }

  function journalText(table: string, id: string, field: string): string {
    return journal
      .filter((j) => j.table === table && j.sysId === id && j.field === field)
      .reverse()
      .map((j) => `${j.at} - ${user(j.by).name} (${field === 'comments' ? 'Comments' : 'Work notes'})\n${j.text}\n\n`)
      .join('');
  }

  /** A field's raw value, following dot-walks through references (requested_by.email). */
  function raw(table: string, rec: Stored, field: string): string {
    const [head, ...rest] = field.split('.');
    if (JOURNAL_FIELDS.includes(head!) && rest.length === 0) return '';
    const v = rec[head!] ?? '';
    if (rest.length === 0) return v;
    const ref = REFERENCES[table]?.[head!];
    if (!ref || !v) return '';
    const target = t(ref[0]).get(v);
    return target ? raw(ref[0], target, rest.join('.')) : '';
  }

  function render(table: string, rec: Stored, q: URLSearchParams): Record<string, unknown> {
    const display = q.get('sysparm_display_value') ?? 'false';
    const noLinks = q.get('sysparm_exclude_reference_link') === 'true';
    const fieldsParam = q.get('sysparm_fields');
    const fields = fieldsParam ? fieldsParam.split(',').map((f) => f.trim()).filter(Boolean) : [...Object.keys(rec), ...JOURNAL_FIELDS.filter((f) => table in REFERENCES && !(f in rec))];
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      // A field the table does not have is left out of the answer, not returned as "".
      if (fieldsParam && !isFieldPath(table, f)) continue;
      const ref = f.includes('.') ? undefined : REFERENCES[table]?.[f];
      const value = raw(table, rec, f);
      if (JOURNAL_FIELDS.includes(f)) {
        // Journal fields read as "" with raw values; display values show the entries.
        out[f] = display === 'false' ? '' : journalText(table, rec.sys_id!, f);
        continue;
      }
      if (ref && value) {
        const target = t(ref[0]).get(value);
        const name = target ? (target[DISPLAY_FIELD[ref[0]] ?? 'sys_id'] ?? '') : '';
        if (display === 'true') out[f] = name;
        else if (display === 'all') out[f] = { display_value: name, value, ...(noLinks ? {} : { link: `${baseUrl}/api/now/table/${ref[1]}/${value}` }) };
        else out[f] = noLinks ? value : { link: `${baseUrl}/api/now/table/${ref[1]}/${value}`, value };
      } else if (display === 'all') {
        out[f] = { display_value: value, value };
      } else {
        out[f] = value;
      }
    }
    return out;
  }

  function touch(rec: Stored, by: string): void {
    rec.sys_updated_on = snTime(now());
    rec.sys_updated_by = by;
    rec.sys_mod_count = String(Number(rec.sys_mod_count ?? '0') + 1);
  }

  function addJournal(table: string, id: string, field: 'work_notes' | 'comments', by: string, text: string): void {
    if (!text) return;
    const at = snTime(now());
    journal.push({ table, sysId: id, field, at, by, text });
    // Journal entries are rows of sys_journal_field, which connectors search to avoid duplicate notes.
    const row: Stored = { sys_id: sysId(), name: table, element_id: id, element: field, value: text, sys_created_on: at, sys_created_by: by };
    t('sys_journal_field').set(row.sys_id!, row);
  }

  function createRecord(table: string, fields: Record<string, unknown>, by: string): Stored {
    const ts = snTime(now());
    const rec: Stored = { sys_id: sysId() };
    if (table === 'change_request') {
      Object.assign(rec, {
        number: `CHG00${++changeNumber}`,
        state: '-5',
        approval: 'not requested',
        type: 'normal',
        phase: 'requested',
        active: 'true',
        requested_by: user(by).sys_id,
        sys_class_name: 'change_request',
      });
    }
    for (const [k, v] of Object.entries(fields)) {
      if (JOURNAL_FIELDS.includes(k) || k === 'sys_id') continue;
      rec[k] = toStored(v);
    }
    Object.assign(rec, { sys_created_on: ts, sys_created_by: by, sys_updated_on: ts, sys_updated_by: by, sys_mod_count: '0' });
    t(table).set(rec.sys_id!, rec);
    for (const j of JOURNAL_FIELDS) if (typeof fields[j] === 'string') addJournal(table, rec.sys_id!, j as 'comments', by, fields[j]);
    return rec;
  }

  /** The approval engine: the change's approval follows its approvers' records. */
  function recomputeApproval(changeSysId: string, by: string): void {
    const change = t('change_request').get(changeSysId);
    if (!change) return;
    const live = approvalsFor(changeSysId).filter((a) => !['cancelled', 'not_required', 'duplicate', 'not requested'].includes(a.state!));
    let next = change.approval!;
    if (live.some((a) => a.state === 'rejected')) next = 'rejected';
    else if (live.length > 0 && live.every((a) => a.state === 'approved')) next = 'approved';
    else if (live.length > 0) next = 'requested';
    if (next === change.approval) return;
    change.approval = next;
    if (next === 'approved' && change.state === '-3') change.state = '-2';
    touch(change, by);
  }

  function approvalsFor(changeSysId: string): Stored[] {
    return [...t('sysapproval_approver').values()].filter((a) => a.sysapproval === changeSysId);
  }

  function stateModelRefusal(rec: Stored, nextState: string | undefined): string | null {
    if (!enforceStateModel || nextState === undefined || nextState === rec.state) return null;
    if (NEEDS_APPROVAL.includes(nextState) && rec.approval !== 'approved') {
      return `State model: ${rec.number} cannot move to ${STATE_NAMES[nextState] ?? nextState} while approval is "${rec.approval}"`;
    }
    return null;
  }

  function update(table: string, rec: Stored, fields: Record<string, unknown>, by: string): FakeResponse | null {
    if (table === 'change_request') {
      const refusal = stateModelRefusal(rec, fields.state === undefined ? undefined : toStored(fields.state));
      if (refusal) return { status: 403, body: snError('Operation Failed', refusal) };
    }
    let changed = false;
    for (const [k, v] of Object.entries(fields)) {
      if (k.startsWith('sys_')) continue;
      if (JOURNAL_FIELDS.includes(k)) {
        addJournal(table, rec.sys_id!, k as 'comments', by, toStored(v));
        changed = true;
        continue;
      }
      const s = toStored(v);
      if (rec[k] !== s) {
        rec[k] = s;
        changed = true;
      }
    }
    if (changed) touch(rec, by);
    if (table === 'sysapproval_approver' && 'state' in fields) recomputeApproval(rec.sysapproval!, by);
    return null;
  }

  /** The JSON body of a write, without the fields the table has no column for (an instance ignores them). */
  function requireJson(req: FakeRequest, table: string): FakeResponse | Record<string, unknown> {
    if (!/application\/json/i.test(req.headers['content-type'] ?? '')) {
      return { status: 415, body: snError('Unsupported Media Type', 'Content-Type must be application/json') };
    }
    if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) {
      return { status: 400, body: snError('Exception while reading request', 'The payload is not valid JSON.') };
    }
    return Object.fromEntries(Object.entries(req.body).filter(([k]) => isColumn(table, k)));
  }
  const isResponse = (x: unknown): x is FakeResponse => typeof x === 'object' && x !== null && typeof (x as FakeResponse).status === 'number' && !('sys_id' in (x as object));

  /** An unknown table is a 400, as on an instance. So is a sysparm_* parameter the Table API does not take on
   * this call: an instance ignores it (a misspelt sysparm_fields answers every field, a sysparm_limit on a
   * single record does nothing), the fake names it. */
  function knownTable(name: string, req?: FakeRequest): FakeResponse | null {
    if (!tables.has(name)) return { status: 400, body: snError('Invalid table ' + name, null) };
    if (!req) return null;
    const call = req.method === 'GET' ? (req.params.sysId === undefined ? 'GET list' : 'GET record') : req.method;
    const allowed = SYSPARMS[call] ?? [];
    const stray = [...req.query.keys()].find((k) => k.startsWith('sysparm_') && !allowed.includes(k));
    if (stray !== undefined) return { status: 400, body: snError('Invalid parameter', `${stray} is not a parameter of ${call === 'GET list' || call === 'GET record' ? 'GET' : call} ${req.path}`) };
    // The flags take true/false (display values also all); an instance reads anything else as the default.
    for (const [k, v] of req.query) {
      const values = k === 'sysparm_display_value' ? ['true', 'false', 'all'] : SYSPARM_FLAGS.includes(k) ? ['true', 'false'] : null;
      if (values && !values.includes(v)) return { status: 400, body: snError('Invalid parameter', `${k}=${v}: expected ${values.join(', ')}`) };
    }
    return null;
  }

  const router = new Router()
    .on('POST', '/oauth_token.do', (req) => {
      if (!/application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')) {
        return { status: 400, body: { error_description: 'Content-Type must be application/x-www-form-urlencoded', error: 'invalid_request' } };
      }
      const form = new URLSearchParams(req.rawBody);
      const denied: FakeResponse = { status: 401, body: { error_description: 'access_denied', error: 'server_error' } };
      if (form.get('client_id') !== oauthClient.clientId || form.get('client_secret') !== oauthClient.clientSecret) return denied;
      let who: string;
      switch (form.get('grant_type')) {
        case 'client_credentials':
          who = oauthUser;
          break;
        case 'password': {
          const u = form.get('username') ?? '';
          if (!passwords.has(u) || passwords.get(u) === null || passwords.get(u) !== form.get('password')) return denied;
          who = u;
          break;
        }
        case 'refresh_token': {
          const r = refreshTokens.get(form.get('refresh_token') ?? '');
          if (!r) return denied;
          refreshTokens.delete(form.get('refresh_token')!);
          who = r;
          break;
        }
        default:
          return { status: 400, body: { error_description: `unsupported grant_type ${form.get('grant_type')}`, error: 'unsupported_grant_type' } };
      }
      const access = randomBytes(24).toString('base64url');
      const refresh = randomBytes(24).toString('base64url');
      tokens.set(access, { user: who, expiresAt: now() + tokenLifetime * 1000 });
      refreshTokens.set(refresh, who);
      return { status: 200, body: { access_token: access, refresh_token: refresh, scope: 'useraccount', token_type: 'Bearer', expires_in: tokenLifetime } };
    })
    .on('GET', '/api/now/table/:table', (req) => {
      const table = req.params.table!;
      const bad = knownTable(table, req);
      if (bad) return bad;
      let parsed;
      try {
        parsed = parseEncodedQuery(req.query.get('sysparm_query') ?? '');
      } catch (err) {
        return { status: 400, body: snError('Invalid query', (err as Error).message) };
      }
      // Date-time columns compare as ServiceNow writes them, "YYYY-MM-DD HH:mm:ss" in UTC; an ISO time with a T
      // or a zone is no date to an instance.
      const badTime = parsed.conditions.find((c) => DATE_TIME_COLUMNS.includes(c.field.split('.').at(-1)!) && ['=', '!=', '>=', '<=', '>', '<'].includes(c.op) && !/^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$/.test(c.value));
      if (badTime) return { status: 400, body: snError('Invalid query', `${badTime.field}${badTime.op}${badTime.value}: a date-time is "YYYY-MM-DD HH:mm:ss" (UTC)`) };
      const unknown = [...parsed.conditions.map((c) => c.field), ...parsed.order.map((o) => o.field)].find((f) => !isFieldPath(table, f));
      if (unknown !== undefined) {
        // A real instance drops the condition and answers more rows than asked for; the fake says so instead.
        return { status: 400, body: snError('Invalid query', `${table} has no field "${unknown}" (an instance would ignore that condition)`) };
      }
      let rows = [...t(table).values()].filter((rec) => {
        let result = true;
        let first = true;
        for (const c of parsed.conditions) {
          const ok = test(raw(table, rec, c.field), c);
          result = first ? ok : c.or ? result || ok : result && ok;
          first = false;
        }
        return result;
      });
      for (const o of [...parsed.order].reverse()) {
        rows = rows.sort((a, b) => (o.desc ? -1 : 1) * compare(raw(table, a, o.field), raw(table, b, o.field)));
      }
      const limitRaw = req.query.get('sysparm_limit');
      const offsetRaw = req.query.get('sysparm_offset');
      if ((limitRaw !== null && !/^\d+$/.test(limitRaw)) || (offsetRaw !== null && !/^\d+$/.test(offsetRaw))) {
        return { status: 400, body: snError('Invalid parameter', 'sysparm_limit and sysparm_offset must be non-negative integers') };
      }
      // The instance caps a page (10000 by default): a bigger sysparm_limit gets that many and a Link
      // rel="next" that carries the capped limit, so only a client that follows Link reads everything.
      const limit = Math.min(limitRaw === null ? 10000 : Number(limitRaw), maxPageSize);
      const offset = offsetRaw === null ? 0 : Number(offsetRaw);
      const page = rows.slice(offset, offset + limit);
      const headers: Record<string, string> = {};
      if (req.query.get('sysparm_no_count') !== 'true') headers['X-Total-Count'] = String(rows.length);
      if (req.query.get('sysparm_suppress_pagination_header') !== 'true' && limit > 0) {
        const link = (o: number, rel: string) => {
          const q = new URLSearchParams(req.query);
          q.set('sysparm_limit', String(limit));
          q.set('sysparm_offset', String(o));
          return `<${baseUrl}${req.path}?${q.toString()}>;rel="${rel}"`;
        };
        const links = [link(0, 'first')];
        if (offset > 0) links.push(link(Math.max(0, offset - limit), 'prev'));
        if (offset + limit < rows.length) links.push(link(offset + limit, 'next'));
        links.push(link(rows.length === 0 ? 0 : Math.floor((rows.length - 1) / limit) * limit, 'last'));
        headers.Link = links.join(',');
      }
      return { status: 200, headers, body: { result: page.map((r) => render(table, r, req.query)) } };
    })
    .on('GET', '/api/now/table/:table/:sysId', (req) => {
      const bad = knownTable(req.params.table!, req);
      if (bad) return bad;
      const rec = t(req.params.table!).get(req.params.sysId!);
      if (!rec) return { status: 404, body: snError('No Record found', "Record doesn't exist or ACL restricts the record retrieval") };
      return { status: 200, body: { result: render(req.params.table!, rec, req.query) } };
    })
    .on('POST', '/api/now/table/:table', (req) => {
      const bad = knownTable(req.params.table!, req);
      if (bad) return bad;
      const body = requireJson(req, req.params.table!);
      if (isResponse(body)) return body;
      const rec = createRecord(req.params.table!, body, req.caller!);
      return { status: 201, headers: { Location: `${baseUrl}/api/now/table/${req.params.table}/${rec.sys_id}` }, body: { result: render(req.params.table!, rec, req.query) } };
    });
  for (const method of ['PATCH', 'PUT']) {
    // PUT is a partial update too on the Table API.
    router.on(method, '/api/now/table/:table/:sysId', (req) => {
      const bad = knownTable(req.params.table!, req);
      if (bad) return bad;
      const body = requireJson(req, req.params.table!);
      if (isResponse(body)) return body;
      const rec = t(req.params.table!).get(req.params.sysId!);
      if (!rec) return { status: 404, body: snError('No Record found', "Record doesn't exist or ACL restricts the record retrieval") };
      const refused = update(req.params.table!, rec, body, req.caller!);
      if (refused) return refused;
      return { status: 200, body: { result: render(req.params.table!, rec, req.query) } };
    });
  }

  const base = await startFakeServer(
    {
      errorBody: (_status, message) => snError(message, null),
      rateLimited(waitMs, nowMs) {
        return {
          status: 429,
          headers: {
            'Retry-After': String(Math.ceil(waitMs / 1000)),
            'X-RateLimit-Limit': '1000',
            'X-RateLimit-Reset': String(Math.ceil((nowMs + waitMs) / 1000)),
          },
          body: snError('Rate limit exceeded', 'Inbound REST API rate limit exceeded for user'),
        };
      },
      authenticate(req) {
        if (req.path === '/oauth_token.do') return 'anonymous';
        const unauthenticated: FakeResponse = { status: 401, headers: { 'WWW-Authenticate': 'BASIC realm="Service-now"' }, body: snError('User Not Authenticated', 'Required to provide Auth information') };
        const basic = basicCredentials(req.headers.authorization);
        if (basic) {
          const pw = passwords.get(basic.user);
          return pw !== undefined && pw !== null && pw === basic.password ? basic.user : unauthenticated;
        }
        const token = bearerToken(req.headers.authorization);
        const held = token ? tokens.get(token) : undefined;
        if (held && held.expiresAt > now()) return held.user;
        return unauthenticated;
      },
    },
    router,
    { now },
  );
  baseUrl = base.url;

  function decide(approvalSysId: string, asUserName: string, state: 'approved' | 'rejected', comments?: string): Stored {
    const a = t('sysapproval_approver').get(approvalSysId);
    if (!a) throw new Error(`fake ServiceNow: no approval ${approvalSysId}`);
    if (a.approver !== user(asUserName).sys_id) throw new Error(`fake ServiceNow: ${asUserName} is not the approver of ${approvalSysId}`);
    update('sysapproval_approver', a, { state, ...(comments ? { comments } : {}) }, asUserName);
    return a;
  }

  /** Fields and dot-walks exactly as connectors/servicenow/business-rule.js sends them. */
  function businessRuleBody(table: 'change_request' | 'sysapproval_approver', id: string, changed: string[]): Record<string, unknown> {
    const rec = t(table).get(id);
    if (!rec) throw new Error(`fake ServiceNow: no ${table} ${id}`);
    const fields =
      table === 'change_request'
        ? ['sys_id', 'number', 'short_description', 'description', 'type', 'state', 'approval', 'risk', 'justification', 'start_date', 'end_date', 'backout_plan', 'correlation_id', 'sys_created_on', 'sys_updated_on', 'sys_mod_count']
        : ['sys_id', 'state', 'sysapproval', 'approver', 'group', 'source_table', 'sys_updated_on', 'sys_mod_count'];
    const record: Record<string, string> = {};
    for (const f of fields) record[f] = rec[f] ?? '';
    if (table === 'change_request') {
      for (const w of ['requested_by.email', 'assignment_group.name', 'cmdb_ci.name']) record[w] = raw(table, rec, w);
    } else {
      record['approver.email'] = raw(table, rec, 'approver.email');
      // getJournalEntry(1): the newest entry only.
      const newest = journal.filter((j) => j.table === table && j.sysId === id && j.field === 'comments').at(-1);
      record.comments = newest ? `${newest.at} - ${user(newest.by).name} (Comments)\n${newest.text}\n\n` : '';
    }
    return { event: table === 'change_request' ? 'record.updated' : 'decision.recorded', table, instance: baseUrl, changed, record };
  }

  async function sendWebhook(url: string, body: unknown, auth: { secret: string } | { username: string; password: string }) {
    const raw = JSON.stringify(body);
    const b = body as { event?: string; table?: string; record?: { sys_id?: string; sys_mod_count?: string } };
    const headers: Record<string, string> = { 'user-agent': 'ServiceNow/1.0', 'x-approval-hub-event': String(b.event ?? '') };
    if (b.table && b.record?.sys_id) headers['x-approval-hub-delivery'] = `${b.table}:${b.record.sys_id}:${b.record.sys_mod_count ?? ''}`;
    if ('secret' in auth) headers['x-hub-signature-256'] = `sha256=${hmacSha256Hex(auth.secret, raw)}`;
    else headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    return deliver(url, raw, headers);
  }

  return {
    ...base,
    state: { tables, journal },
    tables,
    journal,
    addUser,
    user,
    createChange(fields, by = 'beth.anglin') {
      return createRecord('change_request', fields, by);
    },
    requestApproval(changeSysId, userName) {
      const change = t('change_request').get(changeSysId);
      if (!change) throw new Error(`fake ServiceNow: no change ${changeSysId}`);
      const a = createRecord(
        'sysapproval_approver',
        { state: 'requested', approver: user(userName).sys_id, sysapproval: changeSysId, document_id: changeSysId, source_table: 'change_request', group: group.sys_id },
        'system',
      );
      if (['-5', '-4'].includes(change.state!)) change.state = '-3';
      recomputeApproval(changeSysId, 'system');
      return a;
    },
    approve: (id, as, comments) => decide(id, as, 'approved', comments),
    reject: (id, as, comments) => decide(id, as, 'rejected', comments),
    record: (table, id) => tables.get(table)?.get(id),
    approvalsFor,
    businessRuleBody,
    sendBusinessRule: (url, table, id, changed, auth) => sendWebhook(url, businessRuleBody(table, id, changed), auth),
    sendWebhook,
    revokeTokens() {
      tokens.clear();
    },
  };
}
