// Canonical events (from webhooks or reconciliation) → engine commands. Each event ends as
// 'processed', or 'ignored' with a reason a person can read (no change linked, decision already known,
// the engine refused it), so a delivery's status always says what became of it.
import { compareVersions } from '../core/link-version.ts';
import type { Change, ChangeState, Decision, Step } from '../core/types.ts';
import type { CanonicalEvent, ExternalRef, Json, JsonObject } from '../sdk/index.ts';
import { StoreConflictError, type LinkRecord } from '../store/port.ts';
import { changeIdFor, changeOf, completeChange, linkRef } from './canonical.ts';
import { redrive, runCommand, type CommandMeta } from './commands.ts';
import { onDivergentDecision, onDivergentState } from './conflicts.ts';
import { actionContext, type PipelineContext } from './context.ts';
import { personFor } from './directory.ts';

export type EventOutcome = { status: 'processed'; changeId: string; note?: string } | { status: 'ignored'; reason: string };

const STATES: readonly ChangeState[] = [
  'draft', 'awaiting-prerequisites', 'pending-approval', 'approved', 'emergency-approved', 'implementing', 'implemented',
  'review-pending', 'closed', 'rejected', 'expired', 'cancelled', 'rolled-back',
];

export async function handleEvents(ctx: PipelineContext, connectionId: string, events: CanonicalEvent[], meta: CommandMeta): Promise<EventOutcome[]> {
  const out: EventOutcome[] = [];
  for (const event of events) out.push(await handleEvent(ctx, connectionId, event, meta));
  const conn = ctx.connections.get(connectionId);
  if (conn) conn.lastSync = ctx.now().toISOString();
  return out;
}

function sourceToolOf(ctx: PipelineContext, connectionId: string): string {
  return ctx.connections.get(connectionId)?.connector.id ?? connectionId;
}

async function handleEvent(ctx: PipelineContext, connectionId: string, event: CanonicalEvent, meta: CommandMeta): Promise<EventOutcome> {
  switch (event.type) {
    case 'change.requested':
      return onChangeRequested(ctx, connectionId, event, meta);
    case 'decision.recorded':
      return onDecision(ctx, connectionId, event, meta);
    case 'record.updated':
      return onRecordUpdated(ctx, connectionId, event, meta);
    case 'incident.updated':
      return onIncident(ctx, connectionId, event, meta);
    default:
      return { status: 'ignored', reason: `event type ${(event as { type: string }).type} is not handled` };
  }
}

async function upsertLink(ctx: PipelineContext, changeId: string, connectionId: string, ref: ExternalRef): Promise<LinkRecord | null> {
  try {
    return await ctx.store.links.upsert({
      changeId,
      connectionId,
      kind: ref.kind,
      externalId: ref.externalId,
      url: ref.url ?? null,
      versionSeen: ref.version ?? null,
      data: ref.data ?? {},
    });
  } catch (err) {
    // The record already belongs to another change (e.g. one Jira issue named by two deployments):
    // that change keeps it; this one simply is not linked to it.
    if (err instanceof StoreConflictError) {
      ctx.log.warn({ changeId, connectionId, kind: ref.kind, externalId: ref.externalId }, 'record already linked to another change');
      return null;
    }
    throw err;
  }
}

async function onChangeRequested(ctx: PipelineContext, connectionId: string, event: Extract<CanonicalEvent, { type: 'change.requested' }>, meta: CommandMeta): Promise<EventOutcome> {
  const existing = await ctx.store.links.find(connectionId, event.link.kind, event.link.externalId);
  const changeId = existing?.changeId ?? changeIdFor(connectionId, event.link.kind, event.link.externalId);
  if (await ctx.store.changes.get(changeId)) {
    // This very delivery created it before the process died: finish its work instead of ignoring it.
    const correlation = await redrive(ctx, changeId);
    if (correlation !== null && correlation === meta.correlation) return { status: 'processed', changeId, note: 'resumed after an interrupted first attempt' };
    // Later commands replace the outbox, so it may name another correlation by now; the audit trail
    // still says whether this delivery is the one that created the change (its effects were queued then).
    if (meta.correlation !== null && (await ctx.store.audit.listForChange(changeId)).some((t) => t.action === 'submitted' && t.correlation === meta.correlation)) {
      return { status: 'processed', changeId, note: 'already done by an interrupted first attempt' };
    }
    return { status: 'ignored', reason: `change ${changeId} already exists for ${connectionId} ${event.link.kind} ${event.link.externalId}` };
  }
  const sourceTool = sourceToolOf(ctx, connectionId);
  const conn = ctx.connections.get(connectionId);
  const evidence = await packageEvidence(ctx, connectionId, changeId, withDefaults(conn?.settings.options.changeDefaults, event.change), event.link);
  // Separation of duties compares directory people: a requester known to the tool only by an account id is named as the person.
  const requested = typeof evidence.requester === 'string' ? { ...evidence, requester: personFor(ctx.directory, sourceTool, evidence.requester) } : evidence;
  const change = completeChange(changeId, requested, ctx.now());
  // Links first: the effects of the submit (comment on the Jira issue, answer the gate) are routed by them.
  // Linking to a change id that is not stored yet is fine: the id is derived from this very record.
  await upsertLink(ctx, changeId, connectionId, event.link);
  for (const ref of event.relatedLinks ?? []) {
    // A related record may live in another tool (GitHub names the Jira issue: data.connection = the Jira connection).
    const other = typeof ref.data?.connection === 'string' && ctx.connections.has(ref.data.connection) ? ref.data.connection : connectionId;
    await upsertLink(ctx, changeId, other, ref);
  }

  const outcome = await runCommand(ctx, changeId, (current) => {
    if (current) return { refuse: `change ${changeId} already exists for ${connectionId} ${event.link.kind} ${event.link.externalId}`, code: 'already-requested' };
    return { type: 'submit', change, actor: change.requester, sourceTool };
  }, meta);
  if (!outcome.ok) return { status: 'ignored', reason: outcome.reason };
  return { status: 'processed', changeId };
}

/** The step a decision arriving now is about: the open one, else the one decided last. */
export function stepForDecision(change: Change): Step | null {
  const open = change.steps.find((s) => s.state === 'open');
  if (open) return open;
  const decided = change.steps.filter((s) => s.decidedAt).sort((a, b) => (a.decidedAt! < b.decidedAt! ? 1 : -1));
  return decided[0] ?? null;
}

async function onDecision(ctx: PipelineContext, connectionId: string, event: Extract<CanonicalEvent, { type: 'decision.recorded' }>, meta: CommandMeta): Promise<EventOutcome> {
  const link = await ctx.store.links.find(connectionId, event.link.kind, event.link.externalId);
  if (!link) return { status: 'ignored', reason: `no change is linked to ${connectionId} ${event.link.kind} ${event.link.externalId}` };
  if (event.link.version) await upsertLink(ctx, link.changeId, connectionId, { ...linkRef(link), version: event.link.version });
  const record = await ctx.store.changes.get(link.changeId);
  if (!record) return { status: 'ignored', reason: `change ${link.changeId} is linked but not stored` };
  const change = changeOf(record);
  const sourceTool = sourceToolOf(ctx, connectionId);
  const step = stepForDecision(change);
  const decision: Decision = {
    outcome: event.outcome,
    // Eligibility, quorum and separation of duties count directory people, not a tool's account ids.
    actor: personFor(ctx.directory, sourceTool, event.actor),
    rationale: event.rationale,
    sourceTool,
    at: event.at,
    onBehalfOf: event.onBehalfOf ? personFor(ctx.directory, sourceTool, event.onBehalfOf) : null,
    stepId: step?.id ?? null,
    kind: 'normal',
    expiresAt: null,
  };
  // Webhooks arrive at least once and reconciliation re-reads: a decision already recorded counts once.
  if (change.decisions.some((d) => d.sourceTool === sourceTool && d.actor === decision.actor && d.outcome === decision.outcome && d.stepId === decision.stepId)) {
    return { status: 'ignored', reason: `decision by ${decision.actor} in ${sourceTool} is already recorded` };
  }
  const opposing = change.decisions.find((d) => d.stepId === decision.stepId && d.sourceTool !== sourceTool && d.outcome !== decision.outcome && d.kind === 'normal');
  if (opposing) {
    const note = await onDivergentDecision(ctx, change, opposing, decision, connectionId, meta);
    return { status: 'processed', changeId: change.id, note };
  }
  const outcome = await runCommand(ctx, change.id, () => ({ type: 'decide', decision }), meta);
  if (!outcome.ok) return { status: 'ignored', reason: `decision by ${decision.actor} not applied: ${outcome.reason}` };
  return { status: 'processed', changeId: change.id };
}

async function onRecordUpdated(ctx: PipelineContext, connectionId: string, event: Extract<CanonicalEvent, { type: 'record.updated' }>, meta: CommandMeta): Promise<EventOutcome> {
  const link = await ctx.store.links.find(connectionId, event.link.kind, event.link.externalId);
  if (!link) return { status: 'ignored', reason: `no change is linked to ${connectionId} ${event.link.kind} ${event.link.externalId}` };
  const record = await ctx.store.changes.get(link.changeId);
  if (!record) return { status: 'ignored', reason: `change ${link.changeId} is linked but not stored` };
  const change = changeOf(record);
  const sourceTool = sourceToolOf(ctx, connectionId);
  const late = lateVersion(connectionId, event.link, link.versionSeen, true);
  if (late) return { status: 'ignored', reason: late };

  const { state, ...rest } = event.fields as JsonObject & { state?: unknown };
  const seen = (extra: JsonObject = {}) =>
    upsertLink(ctx, change.id, connectionId, { ...linkRef(link), version: event.link.version ?? link.versionSeen, url: event.link.url ?? link.url, data: { ...link.data, ...extra } });
  let applied = false;
  // `syncedState` is the state both sides agreed on at the last sync with this record. A tool still
  // showing it has not moved: the hub moved since, and its update is on the way (queued, or held by an
  // outage or a rate limit). Following the tool would undo the hub's step; calling it a conflict would be false.
  const synced = typeof link.data.syncedState === 'string' ? link.data.syncedState : null;
  if (typeof state === 'string' && state !== change.state && state !== synced) {
    if (!STATES.includes(state as ChangeState)) return { status: 'ignored', reason: `fields.state "${state}" is not a change state` };
    const outcome = await runCommand(ctx, change.id, () => ({ type: 'transition', to: state as ChangeState, actor: sourceTool, sourceTool, rationale: `state changed in ${connectionId} ${event.link.kind} ${event.link.externalId}` }), meta);
    if (!outcome.ok) {
      // The hub cannot follow. When the hub has moved away from the synced state too, both sides
      // changed since the last sync and neither wins silently.
      if (synced !== null && synced !== change.state) {
        const note = await onDivergentState(ctx, change, link, state as ChangeState, event.link.version ?? null, meta);
        await seen();
        return { status: 'processed', changeId: change.id, note };
      }
      await seen();
      return { status: 'ignored', reason: `state ${state} from ${connectionId} not applied: ${outcome.reason}` };
    }
    applied = true;
  }
  // Timestamps and the approval summary are the tool's bookkeeping, not change facts the engine takes.
  const fields = Object.fromEntries(Object.entries(rest).filter(([k]) => !['approval', 'updatedAt', 'createdAt'].includes(k))) as Partial<Change>;
  if (Object.keys(fields).length > 0) {
    const outcome = await runCommand(ctx, change.id, () => ({ type: 'update', fields, actor: sourceTool, sourceTool }), meta);
    if (outcome.ok) applied = true;
  }
  await seen(applied && typeof state === 'string' ? { syncedState: state } : {});
  return applied ? { status: 'processed', changeId: change.id } : { status: 'processed', changeId: change.id, note: 'version recorded; nothing to apply' };
}

async function onIncident(ctx: PipelineContext, connectionId: string, event: Extract<CanonicalEvent, { type: 'incident.updated' }>, meta: CommandMeta): Promise<EventOutcome> {
  const link = await ctx.store.links.find(connectionId, event.link.kind, event.link.externalId);
  if (!link) return { status: 'ignored', reason: `no change is linked to ${connectionId} ${event.link.kind} ${event.link.externalId}` };
  // PagerDuty orders per incident only within one subscription; a redelivery can still come after newer news.
  const late = lateVersion(connectionId, event.link, link.versionSeen, false);
  if (late) return { status: 'ignored', reason: late };
  const i = event.incident as Record<string, unknown>;
  const status = i.status === 'triggered' || i.status === 'acknowledged' || i.status === 'resolved' ? i.status : 'triggered';
  const incident = {
    id: String(i.id ?? event.link.externalId),
    source: connectionId,
    status,
    priority: typeof i.priority === 'string' ? i.priority : typeof i.urgency === 'string' ? i.urgency : null,
    title: typeof i.title === 'string' ? i.title : '',
    url: typeof i.url === 'string' ? i.url : null,
  } as Change['incident'];
  const sourceTool = sourceToolOf(ctx, connectionId);
  const outcome = await runCommand(ctx, link.changeId, () => ({ type: 'update', fields: { incident }, actor: sourceTool, sourceTool }), meta);
  await upsertLink(ctx, link.changeId, connectionId, { ...linkRef(link), version: event.link.version ?? link.versionSeen });
  if (!outcome.ok) return { status: 'ignored', reason: `incident update not applied: ${outcome.reason}` };
  return { status: 'processed', changeId: link.changeId };
}

/** Why an event's record version must not be applied (null when it may): older than the version the
 * link last saw, or, where `sameIsSeen`, that very version again. */
function lateVersion(connectionId: string, ref: ExternalRef, seen: string | null, sameIsSeen: boolean): string | null {
  const order = compareVersions(ref.version, seen);
  const record = `${connectionId} ${ref.kind} ${ref.externalId}`;
  if (order === 'older') return `${record} version ${ref.version} is older than version ${seen} already applied (a late delivery)`;
  if (order === 'same' && sameIsSeen) return `${record} version ${ref.version} was already seen`;
  return null;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The connection's `changeDefaults` option (e.g. the team owning a repository, its standard rollback
 * plan) under the mapped fields: the mapping wins; nested objects (artifacts, labels, rollback) merge. */
export function withDefaults(defaults: Json | undefined, mapped: JsonObject): JsonObject {
  if (!isObject(defaults)) return mapped;
  const out: JsonObject = { ...defaults };
  for (const [k, v] of Object.entries(mapped)) {
    const d = out[k];
    out[k] = isObject(d) && isObject(v) ? { ...d, ...v } : v;
  }
  return out;
}

/** When the requesting tool can show the release package (GitHub: reviews, checks, code scanning), it
 * is read before the submit, so the policy's prerequisites judge the evidence on the first evaluation. */
async function packageEvidence(ctx: PipelineContext, connectionId: string, changeId: string, change: JsonObject, link: ExternalRef): Promise<JsonObject> {
  const conn = ctx.connections.get(connectionId);
  const validate = conn?.actions.get('validate-package');
  if (!conn || !validate) return change;
  const result = await validate.run({ intent: 'validate-package', idempotencyKey: `validate-package_${changeId}`, change: { ...change, id: changeId }, link, params: {} }, actionContext(ctx, conn));
  conn.lastSync = ctx.now().toISOString();
  const artifacts = result.result?.artifacts;
  return isObject(artifacts) ? { ...change, artifacts: { ...(isObject(change.artifacts) ? change.artifacts : {}), ...artifacts } } : change;
}
