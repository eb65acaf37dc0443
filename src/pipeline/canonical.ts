// Between the store's records and the core's Change: filling a partial change (from a mapping or the
// API) with defaults, and projecting a Change onto the stored record.
import { createHash, randomUUID } from 'node:crypto';
import type { Change, ChangeType, Effect } from '../core/types.ts';
import type { ExternalRef } from '../sdk/index.ts';
import type { ChangeRecord, Json, JsonObject, LinkRecord, NewChange } from '../store/port.ts';

const TYPES: readonly ChangeType[] = ['standard', 'normal', 'emergency'];

/** A change id derived from the record that requested it, so two deliveries (or a delivery and a
 * reconcile page) for the same record race to create one change, not two. */
export function changeIdFor(connectionId: string, kind: string, externalId: string): string {
  return `chg-${createHash('sha256').update(`${connectionId}\n${kind}\n${externalId}`).digest('hex').slice(0, 20)}`;
}
export function newChangeId(): string {
  return `chg-${randomUUID().replaceAll('-', '').slice(0, 20)}`;
}

/** The canonical change the engine is given on submit: the mapped fields, defaults for the rest. */
export function completeChange(id: string, partial: JsonObject, now: Date): Change {
  const p = partial as Partial<Record<keyof Change, unknown>>;
  const str = (v: unknown, d: string | null): string | null => (typeof v === 'string' && v !== '' ? v : d);
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : typeof v === 'string' && v ? [v] : []);
  const at = now.toISOString();
  const type = TYPES.includes(p.type as ChangeType) ? (p.type as ChangeType) : 'normal';
  const rollback = (p.rollback ?? {}) as Partial<Change['rollback']>;
  const artifacts = (typeof p.artifacts === 'object' && p.artifacts !== null ? p.artifacts : {}) as Change['artifacts'];
  return {
    id,
    type,
    state: 'draft',
    title: str(p.title, 'Untitled change')!,
    description: str(p.description, null),
    environment: str(p.environment, 'production')!,
    services: strings(p.services),
    configurationItems: Array.isArray(p.configurationItems) ? (p.configurationItems as Change['configurationItems']) : [],
    dataClass: str(p.dataClass, null),
    rollback: { plan: str(rollback.plan, null) ?? (artifacts.rollbackPlan ?? null), complexity: rollback.complexity ?? null },
    artifacts,
    requester: str(p.requester, 'unknown')!,
    team: str(p.team, null),
    region: str(p.region, null),
    plannedWindow: (p.plannedWindow as Change['plannedWindow']) ?? null,
    incident: (p.incident as Change['incident']) ?? null,
    justification: str(p.justification, null),
    risk: null,
    steps: [],
    decisions: [],
    deadlines: {},
    pir: null,
    createdAt: at,
    updatedAt: at,
    labels: (typeof p.labels === 'object' && p.labels !== null ? p.labels : {}) as Record<string, string>,
  };
}

/** Plain JSON copy (drops undefined, Dates become strings) for the store and the audit log. */
export function toJson(value: unknown): Json {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as Json);
}

/** The effects of the last engine call, stored in the same write as the change (a transactional
 * outbox): if the process dies before they are queued, the retried delivery or command queues them
 * again. Queueing is idempotent (ledger keys, job ids), so doing it twice costs nothing. */
export interface Outbox {
  effects: Effect[];
  correlation: string | null;
}

export function changeOf(record: ChangeRecord): Change {
  const { outbox: _outbox, ...change } = record.data;
  return change as unknown as Change;
}

export function outboxOf(record: ChangeRecord): Outbox | null {
  const o = record.data.outbox as unknown as Outbox | undefined;
  return o && Array.isArray(o.effects) ? o : null;
}

export function recordFields(change: Change, outbox: Outbox | null = null): Omit<NewChange, 'id'> {
  const { outbox: _stale, ...data } = toJson(change) as JsonObject;
  return {
    state: change.state,
    tier: change.risk?.tier ?? null,
    team: change.team,
    environment: change.environment,
    type: change.type,
    data: outbox ? { ...data, outbox: toJson(outbox) } : data,
  };
}

/** A stored link as the SDK's ExternalRef (what actions and events carry). */
export function linkRef(link: LinkRecord): ExternalRef {
  return { kind: link.kind, externalId: link.externalId, url: link.url, version: link.versionSeen, data: link.data };
}
