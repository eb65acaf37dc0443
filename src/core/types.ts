// The domain vocabulary as plain data. The core (src/core/) is pure functions over these types:
// no I/O, no framework, no clock of its own (the caller passes `now`).
//
// The engine's one entry point (src/core/engine.ts):
//   decide(change | null, command, context) → { ok: true, change, effects, transitions } | { ok: false, reason }
// The pipeline stores `change` (optimistic version check), appends `transitions` to the audit log, and
// turns `effects` into idempotent outbound jobs and timers.

export type ChangeType = 'standard' | 'normal' | 'emergency';

export type ChangeState =
  | 'draft'
  | 'awaiting-prerequisites'
  | 'pending-approval'
  | 'approved'
  | 'emergency-approved'
  | 'implementing'
  | 'implemented'
  | 'review-pending'
  | 'closed'
  | 'rejected'
  | 'expired'
  | 'cancelled'
  | 'rolled-back';

export interface ConfigurationItem {
  id: string;
  name: string;
  class: string; // database, network, application, storage, ...
}

export interface Artifacts {
  rollbackPlan?: string;
  testCoverage?: number; // 0..1
  peerReviews?: { reviewer: string; state: 'approved' | 'changes-requested' | 'commented' | 'dismissed'; at?: string }[];
  checks?: { name: string; conclusion: string }[]; // CI checks / commit statuses
  staticAnalysis?: { critical: number; high: number; medium: number; low: number; summary?: string };
  [key: string]: unknown;
}

export interface IncidentRef {
  id: string;
  source: string; // connection id, e.g. "pagerduty"
  status: 'triggered' | 'acknowledged' | 'resolved';
  priority: string | null; // "P1".. or urgency
  title: string;
  url: string | null;
}

export interface Decision {
  outcome: 'approve' | 'reject';
  actor: string; // directory person id (email)
  rationale: string | null;
  sourceTool: string; // "servicenow", "jira", "github", "hub", ...
  at: string; // ISO-8601
  onBehalfOf: string | null; // delegation: the approver this actor stands in for
  stepId: string | null;
  kind: 'normal' | 'override' | 'risk-acceptance';
  expiresAt: string | null; // time-bound approval
}

export interface Approvers {
  group?: string;
  role?: string;
  team?: string; // CEL in the policy; resolved to a team name in the plan
  manager?: boolean; // the requester's manager
  oncall?: string; // schedule name
  people?: string[];
}

export interface Step {
  id: string;
  name: string;
  route: string; // the policy route it came from
  approvers: Approvers;
  eligible: string[]; // person ids resolved from the directory when the step opened
  quorum: number | 'all'; // 1 = any
  slaMinutes: number | null; // business minutes
  expiresAt: string | null;
  state: 'waiting' | 'open' | 'approved' | 'rejected' | 'expired' | 'skipped';
  openedAt: string | null;
  decidedAt: string | null;
  escalations: { at: string; to: string[]; level: number }[];
}

export interface RiskFactor {
  id: string;
  points: number;
}
export interface Risk {
  score: number;
  tier: string; // "low" | "medium" | "high" | policy-defined
  factors: RiskFactor[];
  anomaly: { flagged: boolean; reasons: string[] } | null;
}

export interface Change {
  id: string;
  type: ChangeType;
  state: ChangeState;
  title: string;
  description: string | null;
  environment: string; // production, staging, ...
  services: string[];
  configurationItems: ConfigurationItem[];
  dataClass: string | null; // pii, phi, financial, internal, public
  rollback: { plan: string | null; complexity: 'low' | 'medium' | 'high' | null };
  artifacts: Artifacts;
  requester: string; // person id
  team: string | null;
  region: string | null;
  plannedWindow: { start: string; end: string } | null;
  incident: IncidentRef | null;
  justification: string | null;
  risk: Risk | null;
  steps: Step[];
  decisions: Decision[];
  /** Emergency validity deadline, post-implementation review, etc. */
  deadlines: { emergencyValidUntil?: string; pirDueAt?: string };
  pir: { signedOffBy: string; at: string; notes: string | null } | null;
  createdAt: string;
  updatedAt: string;
  /** Facts the hub keeps about the change that are not policy inputs (links live in the store). */
  labels: Record<string, string>;
  /** Size of the change (diff stats) when the source knows it; input to the anomaly model. */
  size?: { linesChanged: number; filesChanged: number } | null;
}

/** People, teams, managers and on-call, as the directory (SCIM, PagerDuty) knows them. */
export interface Person {
  id: string; // email
  name: string;
  timeZone: string; // IANA
  workingHours: { start: string; end: string; days: number[] } | null; // "09:00","17:00", 1=Mon..7=Sun
  manager: string | null;
  groups: string[];
  roles: { role: string; team: string | null }[];
  active: boolean;
  outOfOffice: { from: string; until: string; delegate: string | null } | null;
}
export interface Directory {
  people: Record<string, Person>;
  oncall: Record<string, string[]>; // schedule → person ids currently on call
  holidays: string[]; // ISO dates (YYYY-MM-DD)
  freezes: { from: string; until: string; reason: string }[];
  /** How each tool names people who arrive without an email there (Atlassian account ids, ServiceNow
   * user names or sys_ids, GitHub logins): tool (connector id) → its lower-cased name → person id. */
  accounts?: Record<string, Record<string, string>>;
}

/** Outcome history used by the risk model (computed by the pipeline from stored changes). */
export interface History {
  incidentRate: number; // 0..1 incidents per change among similar past changes
  similarCount: number;
  teamChangesLast7d: number;
  medianTeamChangesPerWeek: number;
  /**
   * The team's recent pattern, for the anomaly model (median/MAD modified z-score). Optional: without it
   * only the frequency ratio against `medianTeamChangesPerWeek` is checked.
   */
  baseline?: {
    sizes: number[]; // linesChanged of the team's recent changes
    hoursOfDay: number[]; // local hour (0..23, team/requester time zone) the recent changes were planned for
    weeklyCounts: number[]; // changes per complete week
  };
}

/** What happened, as commands to the engine. */
export type Command =
  | { type: 'submit'; change: Change; actor: string; sourceTool: string }
  | { type: 'update'; fields: Partial<Change>; actor: string; sourceTool: string } // e.g. an artifact arrived
  | { type: 'decide'; decision: Decision }
  | { type: 'tick' } // timers: SLA escalation, approval expiry, emergency validity, PIR due
  | { type: 'transition'; to: ChangeState; actor: string; sourceTool: string; rationale: string | null }
  | { type: 'pir-signoff'; actor: string; notes: string | null; sourceTool: string };

/** What the engine wants done; carried out by the pipeline through connectors. */
export type Effect =
  | { type: 'request-approval'; stepId: string; approvers: string[] } // open/refresh the approval in the system of record
  | { type: 'announce'; event: string; message: string } // comment / work note on every linked record
  | { type: 'answer-gate'; outcome: 'approved' | 'rejected'; reason: string } // release or stop waiting pipelines
  | { type: 'sync-state'; state: ChangeState } // mirror the state to linked records
  | { type: 'escalate'; stepId: string; to: string[]; level: number }
  | { type: 'schedule'; timer: 'sla' | 'expiry' | 'emergency-validity' | 'pir'; at: string; stepId: string | null }
  | { type: 'rollback'; reason: string }
  // a decision taken in one tool, to be recorded in the system of record's approval (ServiceNow) as well
  | { type: 'record-decision'; stepId: string; outcome: 'approve' | 'reject'; approver: string; rationale: string | null; sourceTool: string };

/** One audit entry as the core sees it (the store adds seq and hashes). */
export interface TransitionDraft {
  action: string;
  actor: string;
  sourceTool: string;
  before: unknown;
  after: unknown;
  rationale: string | null;
}

/** The compiled policy the engine runs (src/core/policy/compile.ts builds it once at load). */
export type { CompiledPolicy, PolicyError } from './policy/types.ts';

export type DecideResult =
  | { ok: true; change: Change; effects: Effect[]; transitions: TransitionDraft[] }
  | { ok: false; reason: string; code: string };
