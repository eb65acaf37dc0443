// One engine call, made durable: read the change, decide, store it with an optimistic version check
// (re-read and decide again when another worker got there first), append every transition to the
// audit log with the correlation id, then turn the effects into outbound jobs and timers.
import { decide } from '../core/engine.ts';
import type { Change, Command, Effect, History } from '../core/types.ts';
import { StoreConflictError, type ChangeRecord } from '../store/port.ts';
import { changeOf, outboxOf, recordFields, toJson, type Outbox } from './canonical.ts';
import type { PipelineContext } from './context.ts';
import { enqueueEffects } from './effects.ts';
import { historyFor } from './history.ts';

export interface CommandMeta {
  /** Delivery id, request id or timer id: recorded on every audit entry. */
  correlation: string | null;
}

export type CommandOutcome =
  | { ok: true; change: Change; effects: Effect[]; created: boolean }
  | { ok: false; reason: string; code: string };

/** Builds the command from the change as it is now (null: the change does not exist yet), or
 * returns a refusal when the command no longer applies. */
export type CommandFor = (change: Change | null) => Command | { refuse: string; code: string };

const MAX_ATTEMPTS = 8;
/** Commands whose engine path assesses risk (submit, updates, and ticks that re-evaluate a lapsed approval). */
const SCORES_RISK = new Set(['submit', 'update', 'tick']);
const NO_HISTORY: History = { incidentRate: 0, similarCount: 0, teamChangesLast7d: 0, medianTeamChangesPerWeek: 0 };

export async function runCommand(ctx: PipelineContext, changeId: string, commandFor: CommandFor, meta: CommandMeta): Promise<CommandOutcome> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const record = await ctx.store.changes.get(changeId);
    const current = record ? changeOf(record) : null;
    const command = commandFor(current);
    if ('refuse' in command) {
      if (record) await redrive(ctx, record.id);
      return { ok: false, reason: command.refuse, code: command.code };
    }
    const subject = current ?? (command.type === 'submit' ? command.change : null);
    if (!subject) return { ok: false, reason: `no change ${changeId}`, code: 'change-not-found' };
    const now = ctx.now();
    // Only commands that (re)score risk read history; a decision or a transition never does, and
    // computing it scans stored changes, which the webhook hot path should not pay for.
    const history = SCORES_RISK.has(command.type)
      ? await historyFor(ctx.store, subject, now, ctx.directory.people[subject.requester]?.timeZone ?? ctx.policy.anomaly?.timeZone ?? 'UTC', ctx.historyCache)
      : NO_HISTORY;
    const result = decide(current, command, { policy: ctx.policy, directory: ctx.directory, history, now });
    if (!result.ok) {
      // Often a retry of a command whose first run stored the change and then died (a decision already
      // recorded): make sure what that run decided is queued.
      if (record) await redrive(ctx, record.id);
      return { ok: false, reason: result.reason, code: result.code };
    }

    const saved = await save(ctx, changeId, record, result.change, { effects: result.effects, correlation: meta.correlation });
    if (!saved) continue; // someone else updated the change first: decide again on the fresh version

    for (const t of result.transitions) {
      await ctx.store.audit.append({
        changeId,
        action: t.action,
        actor: t.actor,
        sourceTool: t.sourceTool,
        at: now.toISOString(),
        before: toJson(t.before),
        after: toJson(t.after),
        rationale: t.rationale,
        correlation: meta.correlation,
      });
    }
    await enqueueEffects(ctx, result.change, result.effects, meta.correlation);
    return { ok: true, change: result.change, effects: result.effects, created: record === null };
  }
  throw new Error(`change ${changeId}: still losing the version race after ${MAX_ATTEMPTS} attempts`);
}

/** Queues the effects of the change's last engine call again (idempotent); returns that call's correlation. */
export async function redrive(ctx: PipelineContext, changeId: string): Promise<string | null> {
  const record = await ctx.store.changes.get(changeId);
  const outbox = record ? outboxOf(record) : null;
  if (!record || !outbox) return null;
  await enqueueEffects(ctx, changeOf(record), outbox.effects, outbox.correlation);
  return outbox.correlation;
}

async function save(ctx: PipelineContext, id: string, before: ChangeRecord | null, change: Change, outbox: Outbox): Promise<ChangeRecord | null> {
  if (!before) {
    try {
      return await ctx.store.changes.create({ id, ...recordFields(change, outbox), createdAt: change.createdAt });
    } catch (err) {
      if (err instanceof StoreConflictError) return null;
      throw err;
    }
  }
  return ctx.store.changes.update(id, before.version, recordFields(change, outbox));
}
