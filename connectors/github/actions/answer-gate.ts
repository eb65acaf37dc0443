// Answers the waiting deployment: POST {environment_name, state, comment} to the run's
// deployment_protection_rule callback → 204. Only the App that owns the rule may call it, with its
// installation token. A completed run (cancelled, failed, timed out or deployed) has nothing left to answer:
// nothing is sent. Otherwise GitHub's answer decides: a callback refused (422) for a run that is not
// waiting (any more) was answered or cancelled already, and is reported the same way.
import { HttpError, PermanentError, type ActionDefinition, type ActionResult } from '../../../src/sdk/index.ts';
import { checkCallbackUrl, githubHeaders } from '../api.ts';
import { installationHeaders } from '../auth.ts';

export const answerGate: ActionDefinition = {
  intent: 'answer-gate',
  linkKinds: ['deployment-gate'],
  description: 'Approve or reject the waiting GitHub deployment (params.outcome approved|rejected, params.reason)',
  async run(input, ctx): Promise<ActionResult> {
    if (input.link?.kind !== 'deployment-gate') throw new PermanentError('answer-gate needs a linked GitHub deployment gate');
    const data = input.link.data ?? {};
    const outcome = input.params.outcome;
    const state = outcome === 'approved' || outcome === 'approve' ? 'approved' : outcome === 'rejected' || outcome === 'reject' ? 'rejected' : null;
    if (!state) throw new PermanentError('answer-gate needs params.outcome "approved" or "rejected"');
    if (typeof data.callbackUrl !== 'string' || typeof data.environment !== 'string') {
      throw new PermanentError('the gate link has no callback URL or environment');
    }
    const callback = checkCallbackUrl(ctx.connection, data.callbackUrl);
    if (!callback.ok) throw new PermanentError(callback.reason);
    const headers = { ...githubHeaders, ...(await installationHeaders(ctx.connection, data.installationId)) };

    const runStatus = async () =>
      (await ctx.http.request<{ status?: string }>({ method: 'GET', path: `/repos/${callback.repository}/actions/runs/${callback.runId}`, headers }))
        .body.status ?? 'unknown';
    // "Waiting" is documented for the job held by the rule; the run says in_progress while other jobs of
    // it still run, so only a completed run proves there is nothing to answer.
    const before = await runStatus();
    if (before === 'completed') return { status: 'already-done', link: input.link, result: { runStatus: before } };
    const reason = typeof input.params.reason === 'string' ? input.params.reason : '';
    try {
      await ctx.http.request({
        method: 'POST',
        path: callback.path,
        headers,
        // GitHub shows the comment on the run's deployment review; it is limited to 1024 characters.
        body: { environment_name: data.environment, state, comment: reason.slice(0, 1024) },
      });
    } catch (e) {
      // 422: the rule was answered (an earlier attempt of this job) or the run cancelled. A run that is not
      // waiting is a gate already closed; one still waiting means the request itself was refused.
      if (!(e instanceof HttpError) || e.status !== 422) throw e;
      const after = await runStatus();
      if (after === 'waiting') throw e;
      return { status: 'already-done', link: input.link, result: { runStatus: after } };
    }
    return { status: 'done', link: input.link, result: { state } };
  },
};
