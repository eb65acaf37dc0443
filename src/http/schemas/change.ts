// The one representation of a change over HTTP (GET /api/v1/changes/:id, POST /api/v1/changes,
// POST /api/v1/changes/:id/decisions; GET /api/v1/changes items are the same less two fields).
// src/http/change-view.ts builds it; these schemas serialise it and are the OpenAPI `Change` and
// `ChangeSummary` components, so the code and the document cannot drift apart.
import { anyObject } from './common.ts';

const nullableString = { type: ['string', 'null'] } as const;
const time = { type: 'string', format: 'date-time' } as const;

export const decisionSchema = {
  type: 'object',
  required: ['outcome', 'actor', 'rationale', 'sourceTool', 'at', 'onBehalfOf', 'stepId', 'kind', 'expiresAt'],
  properties: {
    outcome: { enum: ['approve', 'reject'] },
    actor: { type: 'string', description: 'the person who decided (directory id, usually an email)' },
    rationale: nullableString,
    sourceTool: { type: 'string', description: 'where the decision was made: servicenow, jira, github, hub, ...' },
    at: { type: 'string' },
    onBehalfOf: { ...nullableString, description: 'the approver this actor stood in for (delegation)' },
    stepId: nullableString,
    kind: { enum: ['normal', 'override', 'risk-acceptance'] },
    expiresAt: nullableString,
  },
} as const;

const stepSchema = {
  type: 'object',
  required: ['id', 'name', 'route', 'state', 'approvers', 'eligible', 'quorum', 'slaMinutes', 'expiresAt', 'openedAt', 'decidedAt', 'escalations', 'decisions'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    route: { type: 'string', description: 'the policy route the step came from' },
    state: { enum: ['waiting', 'open', 'approved', 'rejected', 'expired', 'skipped'] },
    approvers: { ...anyObject, description: 'who may decide, as the policy names them (group, role, team, people, ...)' },
    eligible: { type: 'array', items: { type: 'string' }, description: 'people resolved from the directory when the step opened' },
    quorum: { type: ['integer', 'string'], description: 'approvals needed, or "all"' },
    slaMinutes: { type: ['integer', 'null'] },
    expiresAt: nullableString,
    openedAt: nullableString,
    decidedAt: nullableString,
    escalations: { type: 'array', items: anyObject },
    decisions: { type: 'array', items: decisionSchema, description: 'the decisions taken on this step, oldest first' },
  },
} as const;

const riskSchema = {
  type: ['object', 'null'],
  required: ['score', 'tier', 'factors', 'anomaly'],
  properties: {
    score: { type: 'number' },
    tier: { type: 'string' },
    factors: { type: 'array', items: { type: 'object', required: ['id', 'points'], properties: { id: { type: 'string' }, points: { type: 'number' } } } },
    anomaly: { type: ['object', 'null'], additionalProperties: true },
  },
} as const;

const stateChangeSchema = {
  type: ['object', 'null'],
  description: 'How the change reached its current state (its latest state transition): for a rejected change the reason, '
    + 'and who decided — the approver and their tool, or actor "hub" when the hub\'s policy decided (an auto-rejection, an expiry)',
  required: ['from', 'to', 'reason', 'actor', 'sourceTool', 'at'],
  properties: {
    from: nullableString,
    to: { type: 'string' },
    reason: nullableString,
    actor: { type: 'string' },
    sourceTool: { type: 'string' },
    at: { type: 'string' },
  },
} as const;

// A link's `data` holds connector facts (callback URLs and the like) that are not for API readers.
export const linkSchema = {
  type: 'object',
  required: ['connectionId', 'kind', 'externalId', 'url', 'versionSeen', 'updatedAt'],
  properties: {
    connectionId: { type: 'string' },
    kind: { type: 'string' },
    externalId: { type: 'string' },
    url: nullableString,
    versionSeen: nullableString,
    updatedAt: { type: 'string' },
  },
} as const;

const changeProperties = {
  id: { type: 'string' },
  version: { type: 'integer', description: 'increases with every stored update' },
  state: { type: 'string', description: 'e.g. pending-approval, approved, rejected' },
  stateChange: stateChangeSchema,
  type: { enum: ['standard', 'normal', 'emergency'] },
  title: { type: 'string' },
  description: nullableString,
  environment: { type: 'string' },
  services: { type: 'array', items: { type: 'string' } },
  configurationItems: { type: 'array', items: anyObject },
  dataClass: nullableString,
  rollback: { type: 'object', properties: { plan: nullableString, complexity: nullableString } },
  artifacts: anyObject,
  requester: { type: 'string' },
  team: nullableString,
  region: nullableString,
  plannedWindow: { type: ['object', 'null'], properties: { start: { type: 'string' }, end: { type: 'string' } } },
  incident: { type: ['object', 'null'], additionalProperties: true },
  justification: nullableString,
  labels: { type: 'object', additionalProperties: { type: 'string' } },
  tier: { ...nullableString, description: 'the risk tier (also risk.tier), as filtered on by GET /api/v1/changes' },
  risk: riskSchema,
  steps: { type: 'array', items: stepSchema, description: 'the approval plan, in order, each step with its decisions' },
  decisions: { type: 'array', items: decisionSchema, description: 'every decision, oldest first (each also under its step)' },
  deadlines: { type: 'object', properties: { emergencyValidUntil: { type: 'string' }, pirDueAt: { type: 'string' } } },
  pir: { type: ['object', 'null'], additionalProperties: true, description: 'the post-implementation review sign-off of an emergency change' },
  links: { type: 'array', items: linkSchema, description: 'the records in connected tools this change is tied to' },
  createdAt: time,
  updatedAt: time,
} as const;

export const changeSchema = {
  $id: 'Change',
  type: 'object',
  description: 'A change: its state and how it got there, the approval plan with its decisions, risk, and its links',
  required: Object.keys(changeProperties),
  properties: changeProperties,
} as const;

export const changeRef = { $ref: 'Change#' } as const;

// The list leaves out the two parts read from other records (links, and the state transition from the
// audit log): per item they would cost the list two more store reads each, most of its time.
const { links: _links, stateChange: _stateChange, ...summaryProperties } = changeProperties;

export const changeSummarySchema = {
  $id: 'ChangeSummary',
  type: 'object',
  description: 'A change as listed: the Change without `links` and `stateChange` (GET /api/v1/changes/{id} has them)',
  required: Object.keys(summaryProperties),
  properties: summaryProperties,
} as const;

export const changeSummaryRef = { $ref: 'ChangeSummary#' } as const;
