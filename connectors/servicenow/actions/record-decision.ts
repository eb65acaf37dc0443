// Records a decision made elsewhere (Jira, the hub) on a ServiceNow approval record. ServiceNow then
// recomputes the change's approval through its approval engine. The approval is params.approvalId, or
// the pending approval of params.approver (email) on the linked change_request.
import { PermanentError, type ActionDefinition, type ActionResult } from '../../../src/sdk/index.ts';
import { findOne, getRecord, patchRecord, queryValue } from '../table-api.ts';

const fields = 'sys_id,state,sysapproval,approver,sys_mod_count';

export const recordDecision: ActionDefinition = {
  intent: 'record-decision',
  description: 'Approve or reject a sysapproval_approver record (params.outcome, params.rationale, params.approvalId or params.approver)',
  async run(input, ctx): Promise<ActionResult> {
    const outcome = input.params.outcome;
    if (outcome !== 'approve' && outcome !== 'reject') throw new PermanentError('record-decision needs params.outcome "approve" or "reject"');
    let approval;
    if (typeof input.params.approvalId === 'string') {
      approval = await getRecord(ctx.http, 'sysapproval_approver', input.params.approvalId, fields);
    } else if (input.link?.kind === 'change_request' && typeof input.params.approver === 'string') {
      // The approver's pending request first: one approver can hold several approval records on a change
      // (a change asked again keeps the earlier round's, cancelled or decided), and the newest update need
      // not be the pending one (a round's records change in the same second). Failing that, their newest
      // approval says whether the decision is already there.
      const theirs = `sysapproval=${input.link.externalId}^approver.email=${queryValue(input.params.approver)}`;
      approval =
        (await findOne(ctx.http, 'sysapproval_approver', `${theirs}^state=requested`, fields)) ??
        (await findOne(ctx.http, 'sysapproval_approver', `${theirs}^ORDERBYDESCsys_updated_on`, fields));
      // ServiceNow asked someone else (or nobody yet): there is no approval record of theirs to answer, and
      // the hub does not create approvers in ServiceNow's approval engine. The decision stays on the hub's
      // trail and reaches ServiceNow as the state it leads to.
      if (!approval) {
        return { status: 'already-done', link: input.link, result: { skipped: `${input.params.approver} has no approval on change_request ${input.link.externalId}` } };
      }
    } else {
      throw new PermanentError('record-decision needs params.approvalId, or a linked change_request and params.approver');
    }
    const wanted = ctx.render('sysapproval_approver', { outcome, rationale: (input.params.rationale as string | undefined) ?? null });
    if (approval.state === wanted.state) return { status: 'already-done', result: { approvalId: approval.sys_id } };
    if (approval.state === 'approved' || approval.state === 'rejected') {
      throw new PermanentError(`approval ${approval.sys_id} is already ${approval.state} in ServiceNow`);
    }
    // Only a requested approval awaits an answer. cancelled, not_required and duplicate are withdrawn, and
    // "not requested" is not asked yet: writing a decision there would revive a request ServiceNow dropped
    // (or jump its order), so, as for an approver ServiceNow did not ask, the decision stays on the hub's trail.
    if (approval.state !== 'requested') {
      return { status: 'already-done', result: { approvalId: approval.sys_id, skipped: `approval ${approval.sys_id} is ${String(approval.state)} in ServiceNow: it awaits no decision` } };
    }
    const body = { ...wanted };
    if (body.comments === null || body.comments === undefined) delete body.comments;
    await patchRecord(ctx.http, 'sysapproval_approver', approval.sys_id, body);
    return { status: 'done', result: { approvalId: approval.sys_id } };
  },
};
