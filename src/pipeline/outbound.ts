// Runs one outbound job: checks the ledger (a job already done is never repeated, even when the queue
// runs it again after a crash), calls the connector's action through the connection's HTTP client,
// records the result and any link it created, and maps vendor failures onto the queue's retry rules.
import { compareVersions } from '../core/link-version.ts';
import { CircuitOpenError } from '../http-client/index.ts';
import { PermanentError, RetryLaterError, type Job } from '../queue/port.ts';
import { HttpError, type JsonObject } from '../sdk/index.ts';
import type { Change } from '../core/types.ts';
import { changeOf, toJson } from './canonical.ts';
import { actionContext, type PipelineContext } from './context.ts';
import type { OutboundPayload } from './effects.ts';

/** Fallback wait when a vendor says "too many requests" without saying for how long. */
const DEFAULT_RETRY_MS = 5_000;

export async function runOutbound(ctx: PipelineContext, job: Job<OutboundPayload>): Promise<void> {
  const p = job.payload;
  const conn = ctx.connections.get(p.connectionId);
  if (!conn) throw new PermanentError(`outbound ${p.intent}: connection "${p.connectionId}" is not configured any more`);
  const action = conn.actions.get(p.intent);
  if (!action) throw new PermanentError(`outbound ${p.intent}: connector "${conn.connector.id}" has no such action`);

  const ledgerIntent = `${conn.connector.id}.${p.intent}`;
  // enqueueEffects records every job in the ledger before queueing it, so starting it is one write;
  // the ledger entry is made here only for a job queued without one.
  let started = await ctx.store.jobs.start(p.key);
  if (!started && (await ctx.store.jobs.ensure({ key: p.key, changeId: p.changeId, connectionId: p.connectionId, intent: ledgerIntent })).created) {
    started = await ctx.store.jobs.start(p.key);
  }
  if (!started) {
    const current = await ctx.store.jobs.get(p.key);
    if (!current || current.status === 'done') return;
    // 'running' with the queue running the job again means the previous attempt died mid-way (the
    // queue only re-runs a job after its lease lapsed). Whether the vendor saw the call is unknown, so
    // it is run again: every action checks the target first and answers 'already-done'.
    await ctx.store.jobs.fail(p.key, 'the previous attempt stopped before it finished', false);
    started = await ctx.store.jobs.start(p.key);
    if (!started) return;
  }

  const record = await ctx.store.changes.get(p.changeId);
  if (!record) {
    await ctx.store.jobs.fail(p.key, `change ${p.changeId} no longer exists`, true);
    throw new PermanentError(`outbound ${p.intent}: change ${p.changeId} no longer exists`);
  }
  const change = changeOf(record);
  const actionCtx = actionContext(ctx, conn);

  let result;
  try {
    result = await action.run({ intent: p.intent, idempotencyKey: p.key, change: record.data, link: p.link, params: p.params }, actionCtx);
  } catch (err) {
    await failed(ctx, job, change, ledgerIntent, err);
    throw err; // not reached: failed() always throws the queue's verdict
  }
  conn.lastSync = ctx.now().toISOString();

  // The state both sides agree on after this action (what `record.updated` compares against to tell
  // drift on one side from changes on both).
  const skipped = result.result?.skipped !== undefined; // e.g. no Jira status configured for the state: nothing synced
  const synced = skipped ? undefined : p.intent === 'sync-state' || p.intent === 'transition' ? p.params.state : p.intent === 'open-record' ? change.state : undefined;
  const target = result.link ?? p.link;
  if (target && (result.link || typeof synced === 'string')) {
    const existing = await ctx.store.links.find(p.connectionId, target.kind, target.externalId);
    await ctx.store.links.upsert({
      changeId: p.changeId,
      connectionId: p.connectionId,
      kind: target.kind,
      externalId: target.externalId,
      url: result.link?.url ?? existing?.url ?? null,
      // A webhook processed meanwhile may already have shown a newer version than this write's answer.
      versionSeen: compareVersions(result.link?.version, existing?.versionSeen) === 'older' ? existing!.versionSeen : (result.link?.version ?? existing?.versionSeen ?? null),
      data: { ...(existing?.data ?? {}), ...(result.link?.data ?? {}), ...(typeof synced === 'string' ? { syncedState: synced } : {}) },
    });
  }
  const outcome: JsonObject = {
    status: result.status,
    ...(result.link ? { link: toJson({ kind: result.link.kind, externalId: result.link.externalId, url: result.link.url ?? null }) } : {}),
    ...(result.result ? { result: result.result } : {}),
  };
  await ctx.store.jobs.finish(p.key, outcome);
  await ctx.store.audit.append({
    changeId: p.changeId,
    action: 'outbound',
    actor: 'system',
    sourceTool: conn.connector.id,
    at: ctx.now().toISOString(),
    before: null,
    after: { connection: p.connectionId, intent: p.intent, target: p.link ? `${p.link.kind}/${p.link.externalId}` : null, ...outcome, params: p.params },
    rationale: null,
    correlation: p.correlation,
  });
}

/** Records the failure in the ledger and throws what tells the queue when (or whether) to retry. */
async function failed(ctx: PipelineContext, job: Job<OutboundPayload>, change: Change, ledgerIntent: string, err: unknown): Promise<never> {
  const p = job.payload;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof CircuitOpenError) {
    await ctx.store.jobs.fail(p.key, message, false);
    throw new RetryLaterError(message, Math.max(err.retryAfterMs ?? 0, 1_000));
  }
  // Any answer that says when to come back is a rate limit, whatever its status: GitHub signals its
  // primary and secondary limits with 403 (remaining=0 or retry-after), not only 429.
  if (err instanceof HttpError && (err.status === 429 || err.retryAfterMs !== null)) {
    await ctx.store.jobs.fail(p.key, message, false);
    throw new RetryLaterError(message, err.retryAfterMs ?? DEFAULT_RETRY_MS);
  }
  // Connectors throw the SDK's PermanentError (same name, another class): either means never retry.
  const permanent = (err instanceof Error && err.name === 'PermanentError') || (err instanceof HttpError && err.status >= 400 && err.status < 500 && err.status !== 408);
  const final = permanent || job.attempt >= job.maxAttempts;
  await ctx.store.jobs.fail(p.key, message, final);
  if (final) {
    // A person has to look at this one (the dead-letter list and the change's audit trail show it).
    await ctx.store.audit.append({
      changeId: change.id,
      action: 'outbound-failed',
      actor: 'system',
      sourceTool: ledgerIntent.split('.')[0] ?? 'hub',
      at: ctx.now().toISOString(),
      before: null,
      after: { connection: p.connectionId, intent: p.intent, target: p.link ? `${p.link.kind}/${p.link.externalId}` : null, error: message },
      rationale: null,
      correlation: p.correlation,
    });
  }
  if (permanent && !(err instanceof Error && err.name === 'PermanentError')) throw new PermanentError(`${ledgerIntent} on ${p.connectionId}: ${message}`);
  throw err;
}
