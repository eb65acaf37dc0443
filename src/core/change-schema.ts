// The canonical change as a JSON Schema (draft 2020-12 subset), and the validator for inbound partial
// changes: what a connector's mapping, `POST /api/v1/changes` or a gate request gives us. The schema is
// the single source: the validator below interprets it, and the HTTP layer can publish it in OpenAPI.
import type { Change } from './types.ts';

type Schema = {
  type?: string | string[];
  enum?: readonly unknown[];
  properties?: Record<string, Schema>;
  required?: readonly string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  format?: 'date-time' | 'date';
  minimum?: number;
  maximum?: number;
  minLength?: number;
  description?: string;
};

const str: Schema = { type: 'string' };
const nullableStr: Schema = { type: ['string', 'null'] };
const dateTime: Schema = { type: 'string', format: 'date-time' };

export const incidentSchema: Schema = {
  type: ['object', 'null'],
  required: ['id', 'source', 'status', 'title'],
  additionalProperties: false,
  properties: {
    id: str, source: str, status: { type: 'string', enum: ['triggered', 'acknowledged', 'resolved'] },
    priority: nullableStr, title: str, url: nullableStr,
  },
};

/** Inbound change: only `title`, `environment` and `requester` are required; the rest has defaults. */
export const changeInputSchema: Schema = {
  type: 'object',
  required: ['title', 'environment', 'requester'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', minLength: 1 },
    type: { type: 'string', enum: ['standard', 'normal', 'emergency'] },
    title: { type: 'string', minLength: 1 },
    description: nullableStr,
    environment: { type: 'string', minLength: 1 },
    services: { type: 'array', items: str },
    configurationItems: {
      type: 'array',
      items: { type: 'object', required: ['id', 'name', 'class'], additionalProperties: false, properties: { id: str, name: str, class: str } },
    },
    dataClass: { type: ['string', 'null'], enum: ['pii', 'phi', 'financial', 'internal', 'public', null] },
    rollback: {
      type: 'object', additionalProperties: false,
      properties: { plan: nullableStr, complexity: { type: ['string', 'null'], enum: ['low', 'medium', 'high', null] } },
    },
    artifacts: {
      type: 'object',
      additionalProperties: true,
      properties: {
        rollbackPlan: str,
        testCoverage: { type: 'number', minimum: 0, maximum: 1 },
        peerReviews: {
          type: 'array',
          items: {
            type: 'object', required: ['reviewer', 'state'], additionalProperties: false,
            properties: { reviewer: str, state: { type: 'string', enum: ['approved', 'changes-requested', 'commented', 'dismissed'] }, at: dateTime },
          },
        },
        checks: { type: 'array', items: { type: 'object', required: ['name', 'conclusion'], additionalProperties: false, properties: { name: str, conclusion: str } } },
        staticAnalysis: {
          type: 'object', required: ['critical', 'high', 'medium', 'low'], additionalProperties: false,
          properties: { critical: { type: 'number', minimum: 0 }, high: { type: 'number', minimum: 0 }, medium: { type: 'number', minimum: 0 }, low: { type: 'number', minimum: 0 }, summary: str },
        },
      },
    },
    requester: { type: 'string', minLength: 1 },
    team: nullableStr,
    region: nullableStr,
    plannedWindow: { type: ['object', 'null'], required: ['start', 'end'], additionalProperties: false, properties: { start: dateTime, end: dateTime } },
    incident: incidentSchema,
    justification: nullableStr,
    labels: { type: 'object', additionalProperties: str },
    size: { type: ['object', 'null'], required: ['linesChanged', 'filesChanged'], additionalProperties: false, properties: { linesChanged: { type: 'number', minimum: 0 }, filesChanged: { type: 'number', minimum: 0 } } },
    createdAt: dateTime,
  },
};

export interface FieldProblem {
  path: string;
  message: string;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function matchesType(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

export function validateAgainst(schema: Schema, value: unknown, path: string, out: FieldProblem[]): void {
  const where = path || '(change)';
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => matchesType(value, t))) {
      out.push({ path: where, message: `expected ${types.join(' or ')}, got ${typeOf(value)}` });
      return;
    }
  }
  if (schema.enum && !schema.enum.includes(value)) {
    out.push({ path: where, message: `expected one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}, got ${JSON.stringify(value)}` });
    return;
  }
  if (typeof value === 'string') {
    if (schema.minLength && value.length < schema.minLength) out.push({ path: where, message: 'must not be empty' });
    if (schema.format === 'date-time' && (Number.isNaN(Date.parse(value)) || !/^\d{4}-\d{2}-\d{2}T/.test(value))) out.push({ path: where, message: `expected an ISO-8601 date-time, got ${JSON.stringify(value)}` });
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) out.push({ path: where, message: `must be ≥ ${schema.minimum}` });
    if (schema.maximum !== undefined && value > schema.maximum) out.push({ path: where, message: `must be ≤ ${schema.maximum}` });
  }
  if (Array.isArray(value) && schema.items) value.forEach((item, i) => validateAgainst(schema.items!, item, `${path}[${i}]`, out));
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (obj[r] === undefined) out.push({ path: path ? `${path}.${r}` : r, message: 'is required' });
    for (const [k, v] of Object.entries(obj)) {
      const p = path ? `${path}.${k}` : k;
      const sub = schema.properties?.[k];
      if (sub) validateAgainst(sub, v, p, out);
      else if (schema.additionalProperties === false) out.push({ path: p, message: `unknown field (known: ${Object.keys(schema.properties ?? {}).join(', ')})` });
      else if (typeof schema.additionalProperties === 'object') validateAgainst(schema.additionalProperties, v, p, out);
    }
  }
}

/**
 * Validates an inbound partial change and fills the defaults, giving a Change in state `draft` ready
 * for the `submit` command. `id` and `now` come from the caller (the core makes neither).
 */
export function parseChangeInput(input: unknown, defaults: { id: string; now: Date }): { ok: true; change: Change } | { ok: false; errors: FieldProblem[] } {
  const errors: FieldProblem[] = [];
  validateAgainst(changeInputSchema, input, '', errors);
  if (errors.length > 0) return { ok: false, errors };
  const i = input as Partial<Change> & { createdAt?: string };
  const at = i.createdAt ?? defaults.now.toISOString();
  return {
    ok: true,
    change: {
      id: i.id ?? defaults.id,
      type: i.type ?? 'normal',
      state: 'draft',
      title: i.title!,
      description: i.description ?? null,
      environment: i.environment!,
      services: i.services ?? [],
      configurationItems: i.configurationItems ?? [],
      dataClass: i.dataClass ?? null,
      rollback: { plan: i.rollback?.plan ?? null, complexity: i.rollback?.complexity ?? null },
      artifacts: i.artifacts ?? {},
      requester: i.requester!,
      team: i.team ?? null,
      region: i.region ?? null,
      plannedWindow: i.plannedWindow ?? null,
      incident: i.incident ?? null,
      justification: i.justification ?? null,
      risk: null,
      steps: [],
      decisions: [],
      deadlines: {},
      pir: null,
      createdAt: at,
      updatedAt: at,
      labels: i.labels ?? {},
      size: i.size ?? null,
    },
  };
}
