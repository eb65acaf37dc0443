// Mirrors the hub's change state onto the linked change_request (state value from the mapping's value
// map, written back as the first ServiceNow state listed for it). The state model's business rules may
// refuse a jump (403/400): that surfaces as an HttpError for the job to report.
import { PermanentError, type ActionDefinition, type ActionResult } from '../../../src/sdk/index.ts';
import { getRecord, patchRecord } from '../table-api.ts';

export const syncState: ActionDefinition = {
  intent: 'sync-state',
  linkKinds: ['change_request'],
  description: 'Set the linked change_request state to the canonical params.state',
  async run(input, ctx): Promise<ActionResult> {
    if (input.link?.kind !== 'change_request') throw new PermanentError('sync-state needs a linked ServiceNow change_request');
    const state = input.params.state;
    if (typeof state !== 'string') throw new PermanentError('sync-state needs params.state');
    const target = ctx.render('change_request', { state }).state;
    if (typeof target !== 'string') {
      return { status: 'already-done', link: input.link, result: { skipped: `ServiceNow has no state for "${state}" in the mapping` } };
    }
    // short_description too: the mapping needs a title to read the record back.
    const current = await getRecord(ctx.http, 'change_request', input.link.externalId, 'sys_id,state,short_description');
    // The value map gives one canonical state several ServiceNow states (-4 Assess and -3 Authorize are both
    // pending-approval; the legacy 2 Work in Progress is implementing). A record in any of them is there
    // already: writing the first one would move it back (Authorize → Assess) or off an old instance's states.
    const read = ctx.normalize?.('change_request', current);
    if (current.state === target || (read?.ok && read.value.state === state)) return { status: 'already-done', link: input.link };
    await patchRecord(ctx.http, 'change_request', input.link.externalId, { state: target });
    return { status: 'done', link: input.link, result: { state: target } };
  },
};
