// Timers the engine scheduled (SLA escalation, approval expiry, emergency validity, PIR due): when one
// is due the engine gets a `tick` and decides what, if anything, is now late.
import { RetryLaterError, type Job } from '../queue/port.ts';
import { runCommand } from './commands.ts';
import type { PipelineContext } from './context.ts';
import type { TimerPayload } from './effects.ts';

export async function runTimer(ctx: PipelineContext, job: Job<TimerPayload>): Promise<void> {
  const t = job.payload;
  const early = Date.parse(t.at) - ctx.now().getTime();
  // A queue may start a delayed job a little early (clock skew between processes): wait the rest.
  if (early > 0) throw new RetryLaterError(`timer ${t.timer} for ${t.changeId} is due at ${t.at}`, early);
  const outcome = await runCommand(ctx, t.changeId, (change) => (change ? { type: 'tick' } : { refuse: 'change no longer exists', code: 'change-not-found' }), {
    correlation: job.id,
  });
  if (!outcome.ok) ctx.log.info({ changeId: t.changeId, timer: t.timer, reason: outcome.reason }, 'timer tick changed nothing');
}
