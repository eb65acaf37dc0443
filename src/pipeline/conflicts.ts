// Conflicts: two tools disagree about a change (divergent decisions on one step, or both sides moved
// its state since the last sync). Both versions are stored; the configured rule decides at once
// ('reject-wins', the default: a rejection stands) or the conflict waits for a person
// ('manual': POST /api/v1/conflicts/:id/resolve). Either way the outcome goes through the engine and
// the audit log, and nothing is silently overwritten.
import { randomUUID } from 'node:crypto';
import type { Change, ChangeState, Decision } from '../core/types.ts';
import type { ConflictRecord, JsonObject, LinkRecord } from '../store/port.ts';
import { toJson } from './canonical.ts';
import { runCommand, type CommandMeta, type CommandOutcome } from './commands.ts';
import type { PipelineContext } from './context.ts';
import { enqueueEffects } from './effects.ts';

export type ConflictOutcome = 'approve' | 'reject';

async function openConflict(ctx: PipelineContext, change: Change, kind: string, versions: JsonObject[], meta: CommandMeta): Promise<ConflictRecord> {
  const conflict = await ctx.store.conflicts.create({ id: `cfl-${randomUUID()}`, changeId: change.id, kind, versions });
  await ctx.store.audit.append({
    changeId: change.id,
    action: 'conflict',
    actor: 'system',
    sourceTool: 'hub',
    at: ctx.now().toISOString(),
    before: null,
    after: { conflict: conflict.id, kind, versions },
    rationale: `${kind} conflict: ${versions.map((v) => `${v.sourceTool} says ${v.value}`).join(', ')}`,
    correlation: meta.correlation,
  });
  return conflict;
}

function decisionVersion(d: Decision, connectionId: string | null): JsonObject {
  return toJson({ connectionId, sourceTool: d.sourceTool, value: d.outcome, actor: d.actor, rationale: d.rationale, at: d.at, stepId: d.stepId }) as JsonObject;
}

/** A decision that disagrees with another tool's decision on the same step. Returns a note for the delivery. */
export async function onDivergentDecision(ctx: PipelineContext, change: Change, existing: Decision, incoming: Decision, connectionId: string, meta: CommandMeta): Promise<string> {
  const conflict = await openConflict(ctx, change, 'decision', [decisionVersion(existing, null), decisionVersion(incoming, connectionId)], meta);
  if (ctx.conflictRule === 'manual') return `conflict ${conflict.id} waits for a person (conflicts.rule: manual)`;
  const rejecting = existing.outcome === 'reject' ? existing : incoming;
  const result = await resolveConflict(ctx, conflict.id, { outcome: 'reject', by: 'system', rule: 'reject-wins', rationale: rejecting.rationale ?? `rejected by ${rejecting.actor} in ${rejecting.sourceTool}`, decision: rejecting }, meta);
  return result.ok ? `conflict ${conflict.id} resolved by rule reject-wins` : `conflict ${conflict.id} left open: ${result.reason}`;
}

/** The record's state and the hub's state both moved since the last sync. */
export async function onDivergentState(ctx: PipelineContext, change: Change, link: LinkRecord, externalState: ChangeState, version: string | null, meta: CommandMeta): Promise<string> {
  const conflict = await openConflict(ctx, change, 'state', [
    { connectionId: null, sourceTool: 'hub', value: change.state, at: change.updatedAt, syncedState: link.data.syncedState ?? null },
    { connectionId: link.connectionId, sourceTool: ctx.connections.get(link.connectionId)?.connector.id ?? link.connectionId, value: externalState, at: ctx.now().toISOString(), record: `${link.kind}/${link.externalId}`, version },
  ], meta);
  // A state conflict has no rejection to prefer, so it always waits for a person.
  return `conflict ${conflict.id} waits for a person (the hub says ${change.state}, ${link.connectionId} says ${externalState})`;
}

export interface Resolution {
  outcome: ConflictOutcome | ChangeState;
  by: string; // the person (token actor) or 'system'
  rule?: string;
  rationale: string;
  /** The decision to apply, when the outcome is one of the tools' decisions. */
  decision?: Decision;
}

export type ResolveResult = { ok: true; conflict: ConflictRecord; change: Change | null } | { ok: false; code: 'not-found' | 'already-resolved' | 'refused'; reason: string };

/** Applies the chosen outcome through the engine, then marks the conflict resolved and audits it. */
export async function resolveConflict(ctx: PipelineContext, conflictId: string, r: Resolution, meta: CommandMeta): Promise<ResolveResult> {
  const conflict = await ctx.store.conflicts.get(conflictId);
  if (!conflict) return { ok: false, code: 'not-found', reason: `no conflict ${conflictId}` };
  if (conflict.status !== 'open') return { ok: false, code: 'already-resolved', reason: `conflict ${conflictId} was resolved at ${conflict.resolvedAt}` };
  const applied = await apply(ctx, conflict, r, meta);
  if (!applied.ok) return { ok: false, code: 'refused', reason: applied.reason };
  const at = ctx.now().toISOString();
  const resolution: JsonObject = { outcome: r.outcome, by: r.by, ...(r.rule ? { rule: r.rule } : {}), rationale: r.rationale, at };
  const resolved = await ctx.store.conflicts.resolve(conflictId, resolution);
  if (!resolved) return { ok: false, code: 'already-resolved', reason: `conflict ${conflictId} was resolved meanwhile` };
  await ctx.store.audit.append({
    changeId: conflict.changeId,
    action: 'conflict-resolved',
    actor: r.by,
    sourceTool: 'hub',
    at,
    before: { conflict: conflict.id, versions: conflict.versions },
    after: resolution,
    rationale: r.rationale,
    correlation: meta.correlation,
  });
  return { ok: true, conflict: resolved, change: applied.change };
}

/** The decision a version of a decision conflict stands for (the tool's own approver, not the resolver). */
function decisionOf(version: JsonObject, rationale: string): Decision {
  return {
    outcome: version.value === 'reject' ? 'reject' : 'approve',
    actor: String(version.actor),
    rationale: typeof version.rationale === 'string' ? version.rationale : rationale,
    sourceTool: String(version.sourceTool),
    at: String(version.at),
    onBehalfOf: null,
    stepId: typeof version.stepId === 'string' ? version.stepId : null,
    kind: 'normal',
    expiresAt: null,
  };
}

async function apply(ctx: PipelineContext, conflict: ConflictRecord, r: Resolution, meta: CommandMeta): Promise<{ ok: true; change: Change | null } | { ok: false; reason: string }> {
  const record = await ctx.store.changes.get(conflict.changeId);
  if (!record) return { ok: false, reason: `change ${conflict.changeId} no longer exists` };
  const current = record.data as unknown as Change;
  const transitionTo = async (to: ChangeState, why: string) =>
    runCommand(ctx, conflict.changeId, () => ({ type: 'transition', to, actor: r.by, sourceTool: 'hub', rationale: `conflict ${conflict.id}: ${why}` }), meta);

  if (conflict.kind === 'decision') {
    const rejected = ['rejected', 'cancelled', 'expired'].includes(current.state);
    if (r.outcome === 'reject' && rejected) return { ok: true, change: current };
    if (r.outcome === 'approve' && !rejected && current.state !== 'pending-approval') return { ok: true, change: current };
    if (r.outcome === 'approve' && rejected) return { ok: false, reason: `the change is ${current.state}, which is final; request it again to approve it` };
    let outcome: CommandOutcome | null = null;
    if (current.state === 'pending-approval') {
      // The winning tool's decision, applied as if it had arrived alone (its approver, its rationale).
      const version = conflict.versions.find((v) => v.value === r.outcome);
      const decision = r.decision ?? (version ? decisionOf(version, r.rationale) : null);
      if (decision) outcome = await runCommand(ctx, conflict.changeId, () => ({ type: 'decide', decision: { ...decision, stepId: null } }), meta);
    }
    // The step is closed (the change was approved already), or the decision is no longer accepted:
    // a rejection then stops the change. 'rejected' follows only from the plan, so it is cancelled.
    if (!outcome?.ok && r.outcome === 'reject') outcome = await transitionTo('cancelled', `a rejection wins — ${r.rationale}`);
    if (!outcome) return { ok: false, reason: `the change is ${current.state}; nothing to apply` };
    return outcome.ok ? { ok: true, change: outcome.change } : { ok: false, reason: outcome.reason };
  }

  // A state conflict: the winning state is applied to the hub, and the records are told.
  const target = r.outcome as ChangeState;
  if (target === current.state) {
    await enqueueEffects(ctx, current, [{ type: 'sync-state', state: current.state }], meta.correlation);
    return { ok: true, change: current };
  }
  const outcome = await transitionTo(target, r.rationale);
  return outcome.ok ? { ok: true, change: outcome.change } : { ok: false, reason: outcome.reason };
}
