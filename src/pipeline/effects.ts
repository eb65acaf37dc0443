// Effects → outbound jobs. The core says what should happen ("ask for approval", "answer the gate");
// this module decides where, from the change's links and the configured connections, and records each
// action in the job ledger under an idempotency key before queueing it, keyed by the change so one
// change's actions run in order.
import { createHash } from 'node:crypto';
import type { Change, Effect } from '../core/types.ts';
import type { ExternalRef, JsonObject } from '../sdk/index.ts';
import type { LinkRecord } from '../store/port.ts';
import { linkRef, toJson } from './canonical.ts';
import { systemOfRecord, type ConnectionRuntime, type PipelineContext } from './context.ts';

export interface OutboundPayload {
  key: string;
  changeId: string;
  connectionId: string;
  intent: string;
  link: ExternalRef | null;
  params: JsonObject;
  correlation: string | null;
}

export interface TimerPayload {
  changeId: string;
  timer: string;
  stepId: string | null;
  at: string;
}

/** hash(change, step, target connection, intent, target record, effect discriminator). Also the queue
 * job id, so it stays within the characters every queue adapter accepts (BullMQ refuses ':'). */
export function idempotencyKey(parts: { changeId: string; stepId: string | null; connectionId: string; intent: string; link: ExternalRef | null; discriminator: string }): string {
  const material = JSON.stringify([parts.changeId, parts.stepId ?? '', parts.connectionId, parts.intent, parts.link ? `${parts.link.kind}/${parts.link.externalId}` : '', parts.discriminator]);
  return `${parts.intent}_${createHash('sha256').update(material).digest('hex').slice(0, 32)}`;
}

interface Planned {
  conn: ConnectionRuntime;
  intent: string;
  link: LinkRecord | null;
  stepId: string | null;
  discriminator: string;
  params: JsonObject;
}

/** Whether the connection has the action and it acts on this kind of linked record. */
function actsOn(conn: ConnectionRuntime, intent: string, link: LinkRecord): boolean {
  const kinds = conn.actions.get(intent)?.linkKinds;
  return conn.actions.has(intent) && (!kinds || kinds.includes(link.kind));
}

/** Where each effect goes. Pure over the links and connections, so it is easy to read and test. */
export function planEffects(ctx: PipelineContext, change: Change, effects: Effect[], links: LinkRecord[]): { outbound: Planned[]; timers: TimerPayload[] } {
  const outbound: Planned[] = [];
  const timers: TimerPayload[] = [];
  const linked = (intent: string) => {
    const out: { conn: ConnectionRuntime; link: LinkRecord }[] = [];
    for (const link of links) {
      const conn = ctx.connections.get(link.connectionId);
      if (conn && actsOn(conn, intent, link)) out.push({ conn, link });
    }
    return out;
  };
  const requestApproval = (stepId: string, approvers: string[], why: string) => {
    const sor = systemOfRecord(ctx);
    if (!sor || !sor.actions.has('open-record')) return;
    const existing = links.find((l) => l.connectionId === sor.settings.id) ?? null;
    const step = change.steps.find((s) => s.id === stepId);
    outbound.push({
      conn: sor, intent: 'open-record', link: existing, stepId, discriminator: `${why}:${[...approvers].sort().join(',')}`,
      params: { stepId, stepName: step?.name ?? null, approvers, group: step?.approvers.group ?? null, reason: why },
    });
  };
  const announce = (event: string, message: string, stepId: string | null) => {
    for (const { conn, link } of linked('comment')) {
      outbound.push({ conn, intent: 'comment', link, stepId, discriminator: `${event}:${hash(message)}`, params: { event, message } });
    }
  };

  for (const effect of effects) {
    switch (effect.type) {
      case 'request-approval':
        requestApproval(effect.stepId, effect.approvers, 'request');
        break;
      case 'announce':
        announce(effect.event, effect.message, null);
        break;
      case 'answer-gate':
        for (const { conn, link } of linked('answer-gate')) {
          outbound.push({ conn, intent: 'answer-gate', link, stepId: null, discriminator: effect.outcome, params: { outcome: effect.outcome, reason: effect.reason } });
        }
        break;
      case 'sync-state': {
        // A connector mirrors state with 'sync-state' when it has it, else with a workflow 'transition'.
        const seen = new Set<string>();
        for (const intent of ['sync-state', 'transition']) {
          for (const { conn, link } of linked(intent)) {
            const id = `${link.connectionId}/${link.kind}/${link.externalId}`;
            if (seen.has(id)) continue;
            seen.add(id);
            outbound.push({ conn, intent, link, stepId: null, discriminator: effect.state, params: { state: effect.state } });
          }
        }
        break;
      }
      case 'schedule':
        timers.push({ changeId: change.id, timer: effect.timer, stepId: effect.stepId, at: effect.at });
        break;
      case 'escalate': {
        const step = change.steps.find((s) => s.id === effect.stepId);
        const message = `Escalation (level ${effect.level}): ${step?.name ?? effect.stepId} is past its SLA; now also asking ${effect.to.join(', ')}.`;
        announce(`escalated-${effect.level}`, message, effect.stepId);
        requestApproval(effect.stepId, effect.to, `escalation-${effect.level}`);
        break;
      }
      case 'record-decision': {
        // Recorded on the system of record's approval (ServiceNow), unless the decision was taken there.
        // Other tools are told by comment and transition: JSM, for one, takes answers only from the approver.
        const sor = systemOfRecord(ctx);
        if (!sor || sor.connector.id === effect.sourceTool || !sor.actions.has('record-decision')) break;
        const link = links.find((l) => l.connectionId === sor.settings.id);
        if (!link) break;
        outbound.push({
          conn: sor, intent: 'record-decision', link, stepId: effect.stepId, discriminator: `${effect.outcome}:${effect.approver}`,
          params: { outcome: effect.outcome, approver: effect.approver, rationale: effect.rationale ?? `${effect.outcome === 'approve' ? 'Approved' : 'Rejected'} in ${effect.sourceTool}`, sourceTool: effect.sourceTool },
        });
        break;
      }
      case 'rollback':
        // The rollback action is configured per connection (option `rollbackAction`, default 'rollback').
        for (const link of links) {
          const conn = ctx.connections.get(link.connectionId);
          const intent = typeof conn?.settings.options.rollbackAction === 'string' ? conn.settings.options.rollbackAction : 'rollback';
          if (conn && actsOn(conn, intent, link)) outbound.push({ conn, intent, link, stepId: null, discriminator: hash(effect.reason), params: { reason: effect.reason } });
        }
        break;
    }
  }
  return { outbound, timers };
}

export async function enqueueEffects(ctx: PipelineContext, change: Change, effects: Effect[], correlation: string | null): Promise<void> {
  if (effects.length === 0) return;
  const links = await ctx.store.links.listForChange(change.id);
  const { outbound, timers } = planEffects(ctx, change, effects, links);
  const jobs = outbound.map((p) => {
    const link = p.link ? linkRef(p.link) : null;
    const connectionId = p.conn.settings.id;
    const key = idempotencyKey({ changeId: change.id, stepId: p.stepId, connectionId, intent: p.intent, link, discriminator: p.discriminator });
    const payload: OutboundPayload = { key, changeId: change.id, connectionId, intent: p.intent, link, params: toJson(p.params) as JsonObject, correlation };
    return { ledger: { key, changeId: change.id, connectionId, intent: `${p.conn.connector.id}.${p.intent}` }, payload };
  });
  // Every ledger entry before any job is queued (entries are independent: requested together, they
  // share one commit on SQLite); the jobs are queued one after the other, in the order the engine
  // gave the effects, which is the order they run in (they share the change's key).
  await Promise.all(jobs.map((j) => ctx.store.jobs.ensure(j.ledger)));
  for (const { payload } of jobs) await ctx.queue.enqueue({ kind: 'outbound', id: payload.key, key: change.id, payload });
  for (const t of timers) {
    const delayMs = Math.max(0, Date.parse(t.at) - ctx.now().getTime());
    await ctx.queue.enqueue({ kind: 'timer', id: `timer_${t.changeId}_${t.timer}_${t.stepId ?? ''}_${t.at}`.replace(/[^A-Za-z0-9_.-]/g, '_'), payload: t, delayMs });
  }
}

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}
