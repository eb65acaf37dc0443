// The one serializer of a change for the API (schemas: src/http/schemas/change.ts). Every route that
// answers with a change reads it back from the store through here, so a caller sees the same shape
// whether it created, decided on or fetched the change; the list shows the same less links and stateChange.
import type { Change, Decision, Step } from '../core/types.ts';
import { changeOf } from '../pipeline/canonical.ts';
import type { ChangeRecord, LinkRecord, Store, Transition } from '../store/port.ts';

export interface StateChangeView {
  from: string | null;
  to: string;
  reason: string | null;
  actor: string;
  sourceTool: string;
  at: string;
}

/** The latest state transition of a change (the engine writes one `state:<to>` entry per move). */
export function latestStateChange(transitions: readonly Transition[]): StateChangeView | null {
  for (let i = transitions.length - 1; i >= 0; i--) {
    const t = transitions[i]!;
    if (!t.action.startsWith('state:')) continue;
    const before = t.before as { state?: unknown } | null;
    return {
      from: before && typeof before.state === 'string' ? before.state : null,
      to: t.action.slice('state:'.length),
      reason: t.rationale,
      actor: t.actor,
      sourceTool: t.sourceTool,
      at: t.at,
    };
  }
  return null;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const list = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const obj = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

function decisionView(d: Partial<Decision>) {
  return {
    outcome: d.outcome, actor: d.actor ?? '', rationale: d.rationale ?? null, sourceTool: d.sourceTool ?? '', at: d.at ?? '',
    onBehalfOf: d.onBehalfOf ?? null, stepId: d.stepId ?? null, kind: d.kind ?? 'normal', expiresAt: d.expiresAt ?? null,
  };
}

function stepView(s: Partial<Step>, decisions: ReturnType<typeof decisionView>[]) {
  return {
    id: s.id ?? '', name: s.name ?? '', route: s.route ?? '', state: s.state ?? 'waiting', approvers: s.approvers ?? {},
    eligible: list<string>(s.eligible), quorum: s.quorum ?? 1, slaMinutes: s.slaMinutes ?? null, expiresAt: s.expiresAt ?? null,
    openedAt: s.openedAt ?? null, decidedAt: s.decidedAt ?? null, escalations: list(s.escalations),
    decisions: decisions.filter((d) => d.stepId !== null && d.stepId === s.id),
  };
}

function linkView(l: LinkRecord) {
  return { connectionId: l.connectionId, kind: l.kind, externalId: l.externalId, url: l.url, versionSeen: l.versionSeen, updatedAt: l.updatedAt };
}

/** A stored change as listed. The stored record's projections (state, tier, team, ...) win over the
 * canonical data: they are what the filters match. */
export function changeSummaryView(record: ChangeRecord) {
  // changeOf leaves out the pipeline's outbox (effects not yet queued): machinery, not the change.
  const c = changeOf(record) as Partial<Change>;
  const decisions = list<Partial<Decision>>(c.decisions).map(decisionView);
  const rollback = obj(c.rollback);
  return {
    id: record.id,
    version: record.version,
    state: record.state,
    type: record.type ?? c.type ?? 'normal',
    title: str(c.title) ?? 'Untitled change',
    description: str(c.description),
    environment: record.environment ?? str(c.environment) ?? '',
    services: list<string>(c.services),
    configurationItems: list(c.configurationItems),
    dataClass: str(c.dataClass),
    rollback: { plan: str(rollback?.plan), complexity: str(rollback?.complexity) },
    artifacts: obj(c.artifacts) ?? {},
    requester: str(c.requester) ?? 'unknown',
    team: record.team,
    region: str(c.region),
    plannedWindow: obj(c.plannedWindow),
    incident: obj(c.incident),
    justification: str(c.justification),
    labels: obj(c.labels) ?? {},
    tier: record.tier,
    risk: obj(c.risk),
    steps: list<Partial<Step>>(c.steps).map((s) => stepView(s, decisions)),
    decisions,
    deadlines: obj(c.deadlines) ?? {},
    pir: obj(c.pir),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** A stored change with its links and audit transitions, as API callers see it. */
export function changeView(record: ChangeRecord, links: readonly LinkRecord[], transitions: readonly Transition[]) {
  return { ...changeSummaryView(record), stateChange: latestStateChange(transitions), links: links.map(linkView) };
}

export type ChangeView = ReturnType<typeof changeView>;

/** One change read from the store with its links and transitions; null when there is none. */
export async function loadChangeView(store: Store, id: string): Promise<ChangeView | null> {
  const record = await store.changes.get(id);
  return record ? viewOf(store, record) : null;
}

async function viewOf(store: Store, record: ChangeRecord): Promise<ChangeView> {
  const [links, transitions] = await Promise.all([store.links.listForChange(record.id), store.audit.listForChange(record.id)]);
  return changeView(record, links, transitions);
}
