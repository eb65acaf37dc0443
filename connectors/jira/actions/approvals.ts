// Jira Service Management approvals. JSM lets only an assigned approver answer, and an API token acts
// as its owner: the hub can record a decision only on approvals assigned to the hub's own Jira account
// (add that account as an approver, e.g. through the approver group). Jira Cloud's answer endpoint
// takes no comment, so the rationale is posted as a separate internal comment.
import { HttpError, PermanentError, type ActionContext, type ActionDefinition, type ActionResult, type JsonObject } from '../../../src/sdk/index.ts';
import { approvalsPath, listApprovals, type ApprovalDTO } from '../jsm-approvals.ts';
import { approvalDecisions, issueLink } from '../parse.ts';

export const recordDecision: ActionDefinition = {
  intent: 'record-decision',
  linkKinds: ['issue'],
  description: "Answer the linked request's pending JSM approval (params.outcome, params.rationale, params.approvalId); only as its assigned approver",
  async run(input, ctx): Promise<ActionResult> {
    if (input.link?.kind !== 'issue') throw new PermanentError('record-decision needs a linked Jira issue');
    const outcome = input.params.outcome;
    if (outcome !== 'approve' && outcome !== 'reject') throw new PermanentError('record-decision needs params.outcome "approve" or "reject"');
    const key = input.link.externalId;
    const approvals = await listApprovals(ctx.http, key);
    const wantedId = typeof input.params.approvalId === 'string' ? input.params.approvalId : null;
    const candidates = wantedId ? approvals.filter((a) => a.id === wantedId) : approvals;
    if (candidates.length === 0) throw new PermanentError(`${key} has no JSM approval${wantedId ? ` ${wantedId}` : ''}`);
    const final = outcome === 'approve' ? 'approved' : 'declined';
    // canAnswerApproval is per caller: of several pending approvals, answer the one assigned to the hub's account.
    const pending = candidates.find((a) => a.finalDecision === 'pending' && a.canAnswerApproval) ?? candidates.find((a) => a.finalDecision === 'pending');
    if (!pending) {
      if (candidates.some((a) => a.finalDecision === final)) return { status: 'already-done', link: input.link, result: { approvalId: candidates[0]!.id } };
      throw new PermanentError(`${key}: approval ${candidates[0]!.id} is already ${candidates[0]!.finalDecision} in Jira`);
    }
    const notApprover = (jira?: string) =>
      new PermanentError(
        `${key}: the hub's Jira account is not an approver of "${pending.name}"; JSM accepts answers only from assigned approvers, so decide in Jira or add the hub's account as an approver${jira ? ` (Jira: ${jira})` : ''}`,
      );
    if (!pending.canAnswerApproval) {
      // canAnswerApproval is also false once the hub's account has answered an approval that still waits
      // for other approvers: a retried job finds its own answer among the approvers.
      const mine = await ownAnswer(ctx, pending);
      if (mine === final) {
        // The earlier attempt may have failed between the answer and its comment.
        await commentOnce(ctx, key, rationaleText(input.params.rationale, outcome));
        return { status: 'already-done', link: input.link, result: { approvalId: pending.id, decision: final } };
      }
      if (mine !== null && mine !== 'pending') {
        throw new PermanentError(`${key}: the hub's Jira account already answered "${pending.name}" with ${mine}; JSM does not take a second answer`);
      }
      throw notApprover();
    }
    try {
      // The path takes the approval id as an integer; the body of the list has it as a string.
      await ctx.http.request({ method: 'POST', path: approvalsPath(key, pending.id), body: { decision: outcome === 'approve' ? 'approve' : 'decline' } });
    } catch (err) {
      if (!(err instanceof HttpError) || err.status < 400 || err.status >= 500 || err.status === 429) throw err;
      // JSM refuses an answer already given: by another hub process since the list was read, or by an
      // earlier attempt whose reply was lost. Whether the answer is in decides, not the refusal.
      const taken = await answerIn(ctx, key, pending.id, final).catch(() => false); // unknown: the refusal stands
      if (!taken) {
        // JSM refuses an answer from anyone but an assigned approver even when the list said otherwise
        // (approvers changed since it was read): the same refusal, with Jira's words.
        if (err.status === 403) throw notApprover(err.message);
        throw err;
      }
    }
    await commentOnce(ctx, key, rationaleText(input.params.rationale, outcome));
    return { status: 'done', link: input.link, result: { approvalId: pending.id, decision: final } };
  },
};

/** The internal comment carrying the decision's reason (null without one). */
function rationaleText(rationale: unknown, outcome: 'approve' | 'reject'): string | null {
  return typeof rationale === 'string' && rationale !== '' ? `${outcome === 'approve' ? 'Approved' : 'Declined'} via approval-hub: ${rationale}` : null;
}

/** Posts an internal request comment unless the request already has it (a retried job). */
async function commentOnce(ctx: ActionContext, key: string, text: string | null): Promise<void> {
  if (text === null) return;
  const path = `/rest/servicedeskapi/request/${encodeURIComponent(key)}/comment`;
  const pages = ctx.http.paginate<{ body?: unknown }>({ method: 'GET', path, query: { start: 0, limit: 100 } }, (b) => (b as { values?: { body?: unknown }[] } | null)?.values ?? [], { pagination: 'start-limit' });
  for await (const page of pages) if (page.some((c) => c.body === text)) return;
  await ctx.http.request({ method: 'POST', path, body: { body: text, public: false } });
}

/** Whether approval `id` now shows `final`, as its outcome or as the hub account's own answer. */
async function answerIn(ctx: ActionContext, key: string, id: string, final: string): Promise<boolean> {
  const now = (await listApprovals(ctx.http, key)).find((a) => a.id === id);
  return now !== undefined && (now.finalDecision === final || (await ownAnswer(ctx, now)) === final);
}

/** The hub account's own answer on an approval (approverDecision), or null when it is not an approver. */
async function ownAnswer(ctx: ActionContext, approval: ApprovalDTO): Promise<string | null> {
  const me = (await ctx.http.request<{ accountId?: string } | null>({ method: 'GET', path: '/rest/api/3/myself' })).body?.accountId;
  return (me ? approval.approvers.find((a) => a.approver.accountId === me)?.approverDecision : undefined) ?? null;
}

export const readApprovals: ActionDefinition = {
  intent: 'read-approvals',
  linkKinds: ['issue'],
  description: "Read the linked request's JSM approvals as canonical decisions (for reconciliation)",
  async run(input, ctx) {
    if (input.link?.kind !== 'issue') throw new PermanentError('read-approvals needs a linked Jira issue');
    const key = input.link.externalId;
    const approvals = await listApprovals(ctx.http, key);
    const link = issueLink({ id: String(input.link.data?.id ?? key), key, fields: {} });
    const decided = approvalDecisions(key, approvals, ctx.normalize ?? missingNormalize, link);
    if (!decided.ok) throw new PermanentError(decided.reason);
    const summary: JsonObject[] = approvals.map((a) => ({ id: a.id, name: a.name, finalDecision: a.finalDecision, canAnswerApproval: a.canAnswerApproval }));
    return { status: 'done', link: input.link, result: { approvals: summary, decisions: decided.events as unknown as JsonObject[] } };
  },
};

function missingNormalize(): { ok: false; field: string; reason: string } {
  return { ok: false, field: '(mapping)', reason: 'this hub does not pass normalize to actions' };
}
