// Moves the linked issue to the status that stands for a canonical state. Which status that is comes
// from the connection's options.statuses ({ approved: "Awaiting implementation", ... }) or params.status;
// the transition is the available one whose target status has that name (workflows name transitions
// freely, but their target statuses are what the admin configures).
import { PermanentError, type ActionDefinition, type ActionResult } from '../../../src/sdk/index.ts';
import { adf, issuePath } from '../adf.ts';

interface Transitions {
  transitions: { id: string; name: string; to: { id: string; name: string }; isAvailable?: boolean }[];
}

export const transition: ActionDefinition = {
  intent: 'transition',
  linkKinds: ['issue'],
  description: 'Transition the linked issue to the status configured for params.state (or params.status)',
  async run(input, ctx): Promise<ActionResult> {
    if (input.link?.kind !== 'issue') throw new PermanentError('transition needs a linked Jira issue');
    const statuses = (ctx.connection.options.statuses ?? {}) as Record<string, unknown>;
    const state = typeof input.params.state === 'string' ? input.params.state : null;
    const target = typeof input.params.status === 'string' ? input.params.status : state !== null ? statuses[state] : undefined;
    if (typeof target !== 'string') {
      return { status: 'already-done', link: input.link, result: { skipped: `no Jira status is configured for state "${state}" (options.statuses)` } };
    }
    const key = input.link.externalId;
    const issue = await ctx.http.request<{ fields: { status?: { name?: string } } }>({ method: 'GET', path: issuePath(key), query: { fields: 'status' } });
    if (issue.body.fields.status?.name === target) return { status: 'already-done', link: input.link, result: { status: target } };
    const available = await ctx.http.request<Transitions>({ method: 'GET', path: issuePath(key, '/transitions') });
    const wanted = target.toLowerCase();
    const pick = available.body.transitions.find((t) => t.isAvailable !== false && t.to.name.toLowerCase() === wanted)
      ?? available.body.transitions.find((t) => t.isAvailable !== false && t.name.toLowerCase() === wanted);
    if (!pick) {
      const offered = available.body.transitions.map((t) => `${t.name} → ${t.to.name}`).join(', ') || 'none';
      throw new PermanentError(`issue ${key} has no transition to "${target}" from "${issue.body.fields.status?.name ?? '?'}" (available: ${offered})`);
    }
    const message = typeof input.params.message === 'string' ? input.params.message : null;
    await ctx.http.request({
      method: 'POST',
      path: issuePath(key, '/transitions'),
      body: { transition: { id: pick.id }, ...(message ? { update: { comment: [{ add: { body: adf(message) } }] } } : {}) },
    });
    return { status: 'done', link: input.link, result: { status: pick.to.name, transitionId: pick.id } };
  },
};
