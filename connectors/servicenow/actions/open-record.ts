// Opens the change_request that carries the hub's change in ServiceNow. Idempotent: the hub's change id
// is written to correlation_id and looked up first, so a retried job finds the record it already made.
import { PermanentError, type ActionDefinition, type JsonObject } from '../../../src/sdk/index.ts';
import { changeLink, findOne, queryValue, tablePath, type SnRecord } from '../table-api.ts';

const recordFields = 'sys_id,number,state,approval,sys_mod_count,correlation_id';

export const openRecord: ActionDefinition = {
  intent: 'open-record',
  description: 'Open a change_request for the change (assignment group, risk, justification, planned window), once',
  async run(input, ctx) {
    const changeId = input.change.id;
    if (typeof changeId !== 'string' || changeId === '') throw new PermanentError('the change has no id to correlate the ServiceNow record with');
    const existing = await findOne(ctx.http, 'change_request', `correlation_id=${queryValue(changeId)}`, recordFields);
    if (existing) return { status: 'already-done', link: changeLink(ctx, existing), result: { number: existing.number as string } };

    // The plan names approver groups in the hub's words (params.group, e.g. "dba"); options.assignmentGroups
    // maps them to sys_user_group sys_ids, options.assignmentGroup is the fallback.
    const groups = (ctx.connection.options.assignmentGroups ?? {}) as Record<string, unknown>;
    const group = input.params.assignmentGroup
      ?? (typeof input.params.group === 'string' ? groups[input.params.group] : undefined)
      ?? ctx.connection.options.assignmentGroup;
    // A new change starts where ServiceNow's state model puts it (New); sync-state moves it afterwards.
    const { state: _state, ...fields } = ctx.render('change_request', input.change);
    const body: JsonObject = {
      ...fields,
      correlation_id: changeId,
      correlation_display: 'approval-hub',
      ...(typeof group === 'string' ? { assignment_group: group } : {}),
      ...(typeof input.params.configurationItem === 'string' ? { cmdb_ci: input.params.configurationItem } : {}),
    };
    const res = await ctx.http.request<{ result: SnRecord }>({
      method: 'POST',
      path: tablePath('change_request'),
      query: { sysparm_exclude_reference_link: true, sysparm_fields: recordFields },
      body,
    });
    // A 2xx without the record (a hibernating instance's sign-in page, a proxy's own answer) would
    // otherwise link the change to an undefined sys_id; retried, the correlation lookup finds a record made.
    const made = (res.body as { result?: unknown } | null)?.result as SnRecord | undefined;
    if (!made || typeof made !== 'object' || Array.isArray(made) || typeof made.sys_id !== 'string' || made.sys_id === '') {
      throw new Error(`ServiceNow answered POST ${tablePath('change_request')} with ${res.status} but no created record (no result.sys_id): is baseUrl the instance itself (${ctx.connection.baseUrl ?? 'unset'})?`);
    }
    return { status: 'done', link: changeLink(ctx, made), result: { number: made.number as string } };
  },
};
