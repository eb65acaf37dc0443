// The canonical schema a mapping file may write into. Two targets:
//  - "change": the canonical change (src/core/types.ts Change) plus `approval`, the approval status an
//    external record shows (ServiceNow's change_request.approval, a JSM request's final decision), which
//    record.updated events carry but the core change keeps in its steps instead;
//  - "decision": one approver's answer on an external approval record (ServiceNow sysapproval_approver,
//    a JSM approval), before the connector turns final ones into decision.recorded events.
// A field is named by its dotted canonical path; `labels.*` and `artifacts.*` accept any key below them.

export type CanonicalType = 'string' | 'number' | 'boolean' | 'datetime' | 'string[]' | 'json';

export interface CanonicalField {
  type: CanonicalType;
  nullable?: boolean;
  /** Allowed values (strings) when the field is an enumeration. */
  values?: readonly string[];
}

export type MappingTarget = 'change' | 'decision';

const changeStates = [
  'draft', 'awaiting-prerequisites', 'pending-approval', 'approved', 'emergency-approved', 'implementing',
  'implemented', 'review-pending', 'closed', 'rejected', 'expired', 'cancelled', 'rolled-back',
] as const;

export const approvalStatuses = ['not-requested', 'requested', 'approved', 'rejected', 'cancelled'] as const;

const change: Record<string, CanonicalField> = {
  id: { type: 'string' },
  type: { type: 'string', values: ['standard', 'normal', 'emergency'] },
  state: { type: 'string', values: changeStates },
  approval: { type: 'string', values: approvalStatuses },
  title: { type: 'string' },
  description: { type: 'string', nullable: true },
  environment: { type: 'string' },
  services: { type: 'string[]' },
  configurationItems: { type: 'json' },
  dataClass: { type: 'string', nullable: true },
  'rollback.plan': { type: 'string', nullable: true },
  'rollback.complexity': { type: 'string', nullable: true, values: ['low', 'medium', 'high'] },
  'artifacts.*': { type: 'json' },
  requester: { type: 'string' },
  team: { type: 'string', nullable: true },
  region: { type: 'string', nullable: true },
  'plannedWindow.start': { type: 'datetime' },
  'plannedWindow.end': { type: 'datetime' },
  justification: { type: 'string', nullable: true },
  'risk.tier': { type: 'string' },
  'risk.score': { type: 'number' },
  createdAt: { type: 'datetime' },
  updatedAt: { type: 'datetime' },
  'labels.*': { type: 'string' },
};

const decision: Record<string, CanonicalField> = {
  outcome: { type: 'string', values: ['approve', 'reject', 'pending', 'cancelled', 'not-requested'] },
  actor: { type: 'string' },
  rationale: { type: 'string', nullable: true },
  at: { type: 'datetime' },
  onBehalfOf: { type: 'string', nullable: true },
  /** The external record the approval belongs to (e.g. the change_request sys_id). */
  recordId: { type: 'string' },
  approvalId: { type: 'string' },
  group: { type: 'string', nullable: true },
};

export const canonicalSchema: Record<MappingTarget, Record<string, CanonicalField>> = { change, decision };

/** The schema entry for a canonical path, or null when the target has no such field. */
export function canonicalField(target: MappingTarget, path: string): CanonicalField | null {
  const fields = canonicalSchema[target];
  const exact = fields[path];
  if (exact) return exact;
  const dot = path.indexOf('.');
  if (dot > 0 && path.indexOf('.', dot + 1) === -1) {
    const wildcard = fields[`${path.slice(0, dot)}.*`];
    if (wildcard && path.length > dot + 1) return wildcard;
  }
  return null;
}
