// Replays past changes through one or two compiled policies and summarises what each would have done:
// tier mix, pre-approvals, auto-rejects, blocked prerequisites, steps and the approvals they would
// need. With two policies it lists every change decided differently: the workflow A/B comparison.
// Pure apart from its inputs: the caller reads the JSONL and loads the policies.
import { decide } from '../core/engine.ts';
import { parseChangeInput } from '../core/change-schema.ts';
import type { Change, Directory, History } from '../core/types.ts';
import type { CompiledPolicy } from '../core/policy/types.ts';
import { eligibility } from '../core/approvers.ts';

export interface SimulationInput {
  line: number;
  /** A change (as the inbound schema takes it), or { change, history?, now? }. */
  record: unknown;
}

export interface PolicySummary {
  tiers: Record<string, number>;
  outcomes: Record<string, number>;
  steps: number;
  approvals: number;
  anomalies: number;
  stepNames: Record<string, number>;
}

export interface Outcome {
  id: string;
  tier: string;
  state: string;
  steps: string[];
  approvals: number;
  anomaly: boolean;
  reason: string | null;
}

export interface SimulationReport {
  count: number;
  a: PolicySummary;
  b: PolicySummary | null;
  differences: { id: string; what: string[]; a: Outcome; b: Outcome }[];
  problems: { line: number; message: string }[];
}

const NO_HISTORY: History = { incidentRate: 0, similarCount: 0, teamChangesLast7d: 0, medianTeamChangesPerWeek: 0 };

function emptySummary(): PolicySummary {
  return { tiers: {}, outcomes: {}, steps: 0, approvals: 0, anomalies: 0, stepNames: {} };
}

function run(change: Change, policy: CompiledPolicy, directory: Directory, history: History, now: Date): Outcome | string {
  const r = decide(null, { type: 'submit', change, actor: change.requester, sourceTool: 'simulation' }, { policy, directory, history, now });
  if (!r.ok) return r.reason;
  const c = r.change;
  // Approvals a step would need: its quorum, or everyone eligible for quorum "all".
  const approvals = c.steps.reduce((n, s) => n + (s.quorum === 'all' ? Math.max(1, eligibility(s, c, directory, now, policy.delegation.fallbackOncall).direct.length) : s.quorum), 0);
  const gate = r.effects.find((e) => e.type === 'answer-gate');
  return { id: c.id, tier: c.risk?.tier ?? 'none', state: c.state, steps: c.steps.map((s) => s.name), approvals, anomaly: c.risk?.anomaly?.flagged ?? false, reason: gate && 'reason' in gate ? gate.reason : null };
}

function add(s: PolicySummary, o: Outcome): void {
  s.tiers[o.tier] = (s.tiers[o.tier] ?? 0) + 1;
  s.outcomes[o.state] = (s.outcomes[o.state] ?? 0) + 1;
  s.steps += o.steps.length;
  s.approvals += o.approvals;
  if (o.anomaly) s.anomalies++;
  for (const n of o.steps) s.stepNames[n] = (s.stepNames[n] ?? 0) + 1;
}

export function simulate(inputs: readonly SimulationInput[], a: CompiledPolicy, b: CompiledPolicy | null, directory: Directory): SimulationReport {
  const report: SimulationReport = { count: 0, a: emptySummary(), b: b ? emptySummary() : null, differences: [], problems: [] };
  for (const { line, record } of inputs) {
    const wrapped = typeof record === 'object' && record !== null && 'change' in record;
    const rec = (wrapped ? record : { change: record }) as { change: unknown; history?: Partial<History>; now?: string };
    const raw = rec.change as { id?: string; createdAt?: string } | null;
    const nowText = rec.now ?? raw?.createdAt;
    const now = nowText ? new Date(nowText) : new Date(0);
    if (!nowText || Number.isNaN(now.getTime())) {
      report.problems.push({ line, message: 'needs a time to replay at: give createdAt in the change or now next to it' });
      continue;
    }
    const input = parseChangeInput(rec.change, { id: raw?.id ?? `line-${line}`, now });
    if (!input.ok) {
      report.problems.push({ line, message: input.errors.map((e) => `${e.path}: ${e.message}`).join('; ') });
      continue;
    }
    const history = { ...NO_HISTORY, ...(rec.history ?? {}) };
    const oa = run(input.change, a, directory, history, now);
    const ob = b ? run(input.change, b, directory, history, now) : null;
    if (typeof oa === 'string' || typeof ob === 'string') {
      report.problems.push({ line, message: `refused: ${typeof oa === 'string' ? oa : ob}` });
      continue;
    }
    report.count++;
    add(report.a, oa);
    if (b && ob) {
      add(report.b!, ob);
      const what: string[] = [];
      if (oa.tier !== ob.tier) what.push(`tier ${oa.tier} → ${ob.tier}`);
      if (oa.state !== ob.state) what.push(`outcome ${oa.state} → ${ob.state}`);
      if (oa.steps.join('|') !== ob.steps.join('|')) what.push(`steps [${oa.steps.join(', ')}] → [${ob.steps.join(', ')}]`);
      else if (oa.approvals !== ob.approvals) what.push(`approvals ${oa.approvals} → ${ob.approvals}`);
      if (what.length) report.differences.push({ id: oa.id, what, a: oa, b: ob });
    }
  }
  return report;
}
