// The values CEL conditions read, built once per decision. CEL integers are BigInt in cel-js and typed
// fields refuse null, so absent values are left out: `has(change.incident)` is false, and a condition
// that reads an absent field does not match (see CompiledExpr.test).
import type { Change, History, Risk } from '../types.ts';
import type { CelContext } from './types.ts';

export interface WindowFacts {
  active: string[];
  businessHours: boolean;
  freeze: boolean;
  holiday: boolean;
}

function put(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== null && value !== undefined) target[key] = value;
}

/** Artifacts are free-form: drop nulls so has() works, keep numbers as doubles. */
function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v != null).map(clean);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = clean(v);
    return out;
  }
  return value;
}

export function changeFacts(change: Change): Record<string, unknown> {
  const c: Record<string, unknown> = {};
  put(c, 'id', change.id);
  put(c, 'type', change.type);
  put(c, 'state', change.state);
  put(c, 'title', change.title);
  put(c, 'description', change.description);
  put(c, 'environment', change.environment);
  c.services = [...(change.services ?? [])];
  c.ciClasses = [...new Set((change.configurationItems ?? []).map((ci) => ci.class))];
  c.ciNames = (change.configurationItems ?? []).map((ci) => ci.name);
  put(c, 'dataClass', change.dataClass);
  const rb: Record<string, unknown> = {};
  put(rb, 'plan', change.rollback?.plan);
  put(rb, 'complexity', change.rollback?.complexity);
  c.rollback = rb;
  c.artifacts = clean(change.artifacts ?? {});
  put(c, 'requester', change.requester);
  put(c, 'team', change.team);
  put(c, 'region', change.region);
  if (change.incident) {
    const i: Record<string, unknown> = {};
    for (const k of ['id', 'source', 'status', 'priority', 'title', 'url'] as const) put(i, k, change.incident[k]);
    c.incident = i;
  }
  put(c, 'justification', change.justification);
  c.labels = { ...(change.labels ?? {}) };
  if (change.size) c.size = { linesChanged: BigInt(Math.round(change.size.linesChanged)), filesChanged: BigInt(Math.round(change.size.filesChanged)) };
  return c;
}

export function historyFacts(h: History): Record<string, unknown> {
  return {
    incidentRate: Number(h.incidentRate) || 0,
    similarCount: BigInt(Math.round(h.similarCount || 0)),
    teamChangesLast7d: BigInt(Math.round(h.teamChangesLast7d || 0)),
    medianTeamChangesPerWeek: Number(h.medianTeamChangesPerWeek) || 0,
  };
}

export function riskFacts(risk: Risk): Record<string, unknown> {
  return {
    score: BigInt(Math.round(risk.score)),
    tier: risk.tier,
    factors: risk.factors.map((f) => f.id),
    anomaly: risk.anomaly?.flagged ?? false,
  };
}

export function celContext(change: Change, history: History, window: WindowFacts, risk: Risk | null): CelContext {
  const ctx: CelContext = { change: changeFacts(change), history: historyFacts(history), window: { ...window } };
  if (risk) ctx.risk = riskFacts(risk);
  return ctx;
}
