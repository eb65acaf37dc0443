// Reconciliation: change_requests and their approvals updated since the cursor, read from the Table API
// page by page through the shared pager (ServiceNow's Link header, rel="next").
//   sysparm_query=sys_updated_on>=<cursor>^ORDERBYsys_updated_on^ORDERBYsys_id
// Ordering by sys_id as well keeps paging stable when many records share one second. The cursor is
// ServiceNow's UTC "YYYY-MM-DD HH:mm:ss"; >= re-reads the boundary second, which is harmless because
// events carry sys_mod_count as their version. The cursor is the newest change_request update read, never
// a newer approval's: change_request is read first, so a change updated while the approvals were being
// read is older than they are and would be skipped, whereas every approval older than a change read
// earlier was already there. Approvals newer than the cursor are read again next time, and a decision
// already recorded counts once.
import type { CanonicalEvent, ReconcileContext, ReconcilePage } from '../../src/sdk/index.ts';
import { changeEvent, decisionEvent, type ServiceNowRecord } from './parse.ts';
import { tablePath } from './table-api.ts';

const pageSize = 100;
const defaultLookbackMinutes = 24 * 60;

const changeFields = [
  'sys_id', 'number', 'short_description', 'state', 'approval', 'sys_created_on', 'sys_updated_on', 'sys_mod_count',
  'requested_by.email', 'assignment_group.name', 'cmdb_ci.name',
].join(',');
// comments is a journal field: raw reads return "", so reconciled decisions carry no rationale. approver
// (the sys_user sys_id) names an approver whose sys_user record has no email (the mapping falls back to it).
const approvalFields = ['sys_id', 'state', 'sysapproval', 'approver', 'approver.email', 'group', 'comments', 'sys_updated_on', 'sys_mod_count'].join(',');

export function serviceNowTime(date: Date): string {
  const s = date.toISOString();
  return `${s.slice(0, 10)} ${s.slice(11, 19)}`;
}

export async function* reconcileServiceNow(ctx: ReconcileContext): AsyncIterable<ReconcilePage> {
  const lookback = typeof ctx.connection.options.reconcileLookbackMinutes === 'number' ? ctx.connection.options.reconcileLookbackMinutes : defaultLookbackMinutes;
  const since = ctx.cursor ?? serviceNowTime(new Date(ctx.now().getTime() - lookback * 60_000));
  let newest = since;
  const tables = [
    { table: 'change_request', fields: changeFields, filter: '' },
    { table: 'sysapproval_approver', fields: approvalFields, filter: 'source_table=change_request^' },
  ];
  for (const { table, fields, filter } of tables) {
    const pages = ctx.http.paginate<ServiceNowRecord>(
      {
        method: 'GET',
        path: tablePath(table),
        query: {
          sysparm_query: `${filter}sys_updated_on>=${since}^ORDERBYsys_updated_on^ORDERBYsys_id`,
          sysparm_fields: fields,
          sysparm_limit: pageSize,
          sysparm_exclude_reference_link: true,
        },
      },
      (body) => (body as { result?: ServiceNowRecord[] }).result ?? [],
    );
    for await (const records of pages) {
      const events: CanonicalEvent[] = [];
      for (const record of records) {
        if (table === 'change_request' && typeof record.sys_updated_on === 'string' && record.sys_updated_on > newest) newest = record.sys_updated_on;
        const parsed = table === 'change_request' ? changeEvent(record, ctx.normalize, ctx.connection.baseUrl) : decisionEvent(record, ctx.normalize);
        if (parsed.status === 'events') events.push(...parsed.events);
        else if (parsed.status === 'failed') ctx.log.warn({ connection: ctx.connection.id, table, sysId: record.sys_id, reason: parsed.reason }, 'servicenow record not reconciled');
      }
      // The cursor moves only after both tables are read to the end (below): an approval updated
      // before a change read earlier must not be skipped if the run stops halfway.
      yield { events, cursor: since };
    }
  }
  yield { events: [], cursor: newest };
}
