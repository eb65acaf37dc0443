// The policy after compilation: every CEL condition parsed and type-checked once, durations in
// minutes, tiers ordered. Each rule remembers the file and line it came from so the engine and the
// `policy test` command can say which rule decided.
import type { Approvers } from '../types.ts';

/** One problem found while loading a policy: file, line, where inside it, and why. */
export interface PolicyError {
  file: string;
  line: number;
  path: string; // e.g. routes[0].when
  message: string;
  expression?: string; // the CEL text, when the problem is in one
}

/** Where a parsed YAML document came from; lineOf maps a path inside it to a 1-based line (0 if unknown). */
export interface PolicySource {
  file: string;
  lineOf(path: readonly (string | number)[]): number;
}

export interface Origin {
  file: string;
  line: number;
}

/** The values CEL conditions see (built once per decision by src/core/policy/context.ts). */
export type CelContext = Record<string, unknown>;

export interface CompiledExpr {
  source: string;
  path: string;
  origin: Origin;
  /** Evaluates to a boolean; an evaluation error (e.g. reading an absent field) counts as false. */
  test(ctx: CelContext): boolean;
  /** Evaluates to any value; throws on evaluation errors. */
  value(ctx: CelContext): unknown;
}

/** Who may approve, as written in the policy (`team` is CEL, resolved when the step opens). */
export interface ApproverSelector {
  group?: string;
  role?: string;
  team?: CompiledExpr;
  manager?: boolean;
  oncall?: string;
  people?: string[];
}

export interface StepTemplate {
  name: string;
  approvers: ApproverSelector;
  /** As recorded on the step (team as its CEL text until resolved). */
  approversRecord: Approvers;
  quorum: number | 'all';
  slaMinutes: number | null;
  /** How long an approval given in this step stays valid; null = policy default. */
  expiryMinutes: number | null;
  /** First rung of the escalation ladder for this step (`to: alternate`). */
  alternate: ApproverSelector | null;
  /** True for a step that reviews an automated flag: approving it is a risk acceptance. */
  reviewsFlag: boolean;
  origin: Origin;
}

export interface CompiledFactor {
  id: string;
  points: number;
  description: string | null;
  when: CompiledExpr;
  origin: Origin;
}

export interface CompiledPrerequisite {
  id: string;
  when: CompiledExpr | null;
  require: CompiledExpr;
  onFail: 'reject' | 'block';
  message: string;
  origin: Origin;
}

export interface CompiledRoute {
  id: string;
  when: CompiledExpr;
  steps: StepTemplate[];
  origin: Origin;
}

export interface CompiledWindow {
  id: string;
  kind: 'business-hours' | 'freeze' | 'holiday';
  timeZone: string;
  days: number[]; // business-hours: 1 = Monday .. 7 = Sunday
  from: number | null; // minute of day
  until: number | null;
  /** Fixed freeze periods declared in the policy (the directory's freezes also count). */
  periods: { from: string; until: string; reason: string }[];
  raiseTierTo: string | null;
  steps: StepTemplate[];
  origin: Origin;
}

export type EscalationTarget =
  | { kind: 'alternate' }
  | { kind: 'manager' }
  | { kind: 'oncall'; schedule: string }
  | { kind: 'group'; group: string };

export interface EscalationRung {
  afterMinutes: number;
  to: EscalationTarget;
  text: string;
}

export interface CompiledPolicy {
  /** Files it was built from: the central policy, then overlays in order. */
  files: string[];
  tiers: { name: string; min: number }[]; // ascending by min
  factors: CompiledFactor[];
  prerequisites: CompiledPrerequisite[];
  routes: CompiledRoute[];
  windows: CompiledWindow[];
  anomaly: {
    threshold: number;
    minSamples: number;
    frequencyRatio: number;
    timeZone: string; // for the time-of-day check when the team's zone is unknown
    step: StepTemplate;
  } | null;
  escalation: { clock: 'business' | 'wall'; ladder: EscalationRung[] };
  expiry: { approvalMinutes: number | null; requestMinutes: number | null };
  emergency: {
    when: CompiledExpr;
    step: StepTemplate;
    justificationRequired: boolean;
    validityMinutes: number;
    onValidityExpired: 'rollback' | 'announce';
    pir: { withinMinutes: number; signoff: ApproverSelector; signoffRecord: Approvers };
    origin: Origin;
  } | null;
  separationOfDuties: true;
  /** Who stands in for an out-of-office approver without a recorded delegate. */
  delegation: { fallbackOncall: string | null };
  riskAcceptance: { minJustificationLength: number };
  /** Overlays applied, with the CEL that scopes their added rules. */
  overlays: { id: string; file: string; appliesTo: string | null }[];
}
