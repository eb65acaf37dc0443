// Mirrors the hub's change state onto the linked change_request (state value from the mapping's value
// map, written back as the first ServiceNow state listed for it). The state model's business rules may
// refuse a jump (403/400): that surfaces as an HttpError for the job to report.
import { PermanentError, type ActionDefinition, type ActionResult } from '../../../src/sdk/index.ts';
import { getRecord, patchRecord } from '../table-api.ts';

export const syncState: ActionDefinition = {
  intent: 'sync-state',
  description: 'Set the linked change_request state to the canonical params.state',
  async run(input, ctx): Promise<ActionResult> {
    if (input.link?.kind !== 'change_request') throw new PermanentError('sync-state needs a linked ServiceNow change_request');
    const state = input.params.state;
    if (typeof state !== 'string') throw new PermanentError('sync-state needs params.state');
    const target = ctx.render('change_request', { state }).state;
    if (typeof target !== 'string') {
      return { status: 'already-done', link: input.link, result: { skipped: `ServiceNow has no state for "${state}" in the mapping` } };
    }
    const current = await getRecord(ctx.http, 'change_request', input.link.externalId, 'sys_id,state');
    if (current.state === target) return { status: 'already-done', link: input.link };
    await patchRecord(ctx.http, 'change_request', input.link.externalId, { state: target });
    return { status: 'done', link: input.link, result: { state: target } };
  },
};
