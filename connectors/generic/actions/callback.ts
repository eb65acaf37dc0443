// Outbound: POST the effect as JSON to the connection's callback URL (baseUrl + options.callbackPath).
// The receiver dedupes on the Idempotency-Key header: the hub's jobs are at-least-once, so the same
// effect may be POSTed again after a timeout.
import { PermanentError, type ActionDefinition, type ActionInput, type ActionContext, type ActionResult } from '../../../src/sdk/index.ts';

async function postCallback(input: ActionInput, ctx: ActionContext): Promise<ActionResult> {
  if (!ctx.connection.baseUrl) throw new PermanentError(`connection ${ctx.connection.id} has no baseUrl to send callbacks to`);
  const path = typeof ctx.connection.options.callbackPath === 'string' ? ctx.connection.options.callbackPath : '';
  const res = await ctx.http.request({
    method: 'POST',
    path,
    headers: { 'Idempotency-Key': input.idempotencyKey },
    idempotent: true, // the receiver dedupes on the key, so a callback whose answer was lost is sent again
    body: {
      type: input.intent,
      idempotencyKey: input.idempotencyKey,
      sentAt: ctx.now().toISOString(),
      change: input.change,
      link: input.link,
      params: input.params,
    },
  });
  return { status: 'done', result: { status: res.status } };
}

/** One definition per effect the generic connector answers; all of them are the same callback. */
function callback(intent: string, description: string): ActionDefinition {
  return { intent, description, run: postCallback };
}

export const callbackActions: ActionDefinition[] = [
  callback('callback', 'POST any effect as JSON to the callback URL'),
  callback('answer-gate', 'POST the gate answer (params.outcome, params.reason) to the callback URL'),
  callback('comment', 'POST an announcement (params.message) to the callback URL'),
  callback('sync-state', 'POST the change state (params.state) to the callback URL'),
];
