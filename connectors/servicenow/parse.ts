// Deliveries from the hub's business rule (business-rule.js), one JSON shape for both tables:
//
//   { "event": "record.updated" | "decision.recorded",
//     "table": "change_request" | "sysapproval_approver",
//     "instance": "https://acme.service-now.com",
//     "changed": ["state", "approval"],            // field names the update changed
//     "record": { "sys_id": "…", "state": "-2", …, "requested_by.email": "…" } }   // raw values, references as sys_ids
//
// Reconciliation reads the same records from the Table API, so both paths share toEvents().
import type { CanonicalEvent, InboundDelivery, JsonObject, ParseContext, ParseResult } from '../../src/sdk/index.ts';

export type ServiceNowRecord = Record<string, unknown>;
type Normalize = ParseContext['normalize'];

/** Fields of change_request whose change the hub acts on (others update nothing the hub keeps). */
const trackedChangeFields = ['state', 'approval'];

export function parseServiceNow(delivery: InboundDelivery, ctx: ParseContext): ParseResult {
  let body: unknown;
  try {
    body = JSON.parse(delivery.rawBody.toString('utf8'));
  } catch {
    return { status: 'failed', reason: 'body is not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { status: 'failed', reason: 'body is not a JSON object' };
  const { table, record, changed } = body as { table?: unknown; record?: unknown; changed?: unknown };
  if (table !== 'change_request' && table !== 'sysapproval_approver') {
    return { status: 'ignored', reason: `table ${JSON.stringify(table ?? null)} is not handled (expected change_request or sysapproval_approver)` };
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return { status: 'failed', reason: 'record: expected an object' };
  const instance = typeof (body as { instance?: unknown }).instance === 'string' ? (body as { instance: string }).instance : ctx.connection.baseUrl;
  if (table === 'change_request') {
    if (Array.isArray(changed) && !changed.some((f) => trackedChangeFields.includes(String(f)))) {
      return { status: 'ignored', reason: `no tracked field changed (${trackedChangeFields.join(', ')}); changed: ${changed.join(', ')}` };
    }
    return changeEvent(record as ServiceNowRecord, ctx.normalize, instance);
  }
  return decisionEvent(record as ServiceNowRecord, ctx.normalize);
}

export function recordUrl(instance: string | null, table: string, sysId: string): string | null {
  return instance ? `${instance.replace(/\/+$/, '')}/nav_to.do?uri=${encodeURIComponent(`${table}.do?sys_id=${sysId}`)}` : null;
}

export function changeEvent(record: ServiceNowRecord, normalize: Normalize, instance: string | null): ParseResult {
  const sysId = typeof record.sys_id === 'string' ? record.sys_id : null;
  if (!sysId) return { status: 'failed', reason: 'record.sys_id: required but missing' };
  const canonical = normalize('change_request', record);
  if (!canonical.ok) return { status: 'failed', reason: `change_request ${sysId}: field ${canonical.field}: ${canonical.reason}` };
  const fields: JsonObject = {};
  for (const key of ['state', 'approval', 'updatedAt'] as const) {
    if (canonical.value[key] !== undefined) fields[key] = canonical.value[key]!;
  }
  const event: CanonicalEvent = {
    type: 'record.updated',
    link: {
      kind: 'change_request',
      externalId: sysId,
      url: recordUrl(instance, 'change_request', sysId),
      version: typeof record.sys_mod_count === 'string' ? record.sys_mod_count : null,
      data: typeof record.number === 'string' ? { number: record.number } : {},
    },
    fields,
  };
  return { status: 'events', events: [event] };
}

export function decisionEvent(record: ServiceNowRecord, normalize: Normalize): ParseResult {
  const decision = normalize('sysapproval_approver', record);
  const sysId = typeof record.sys_id === 'string' ? record.sys_id : '(no sys_id)';
  if (!decision.ok) return { status: 'failed', reason: `sysapproval_approver ${sysId}: field ${decision.field}: ${decision.reason}` };
  const d = decision.value;
  if (d.outcome !== 'approve' && d.outcome !== 'reject') {
    return { status: 'ignored', reason: `approval ${sysId} is ${String(d.outcome)}, not a decision` };
  }
  // The decision is made on the change request the approval belongs to: that is the record the hub links.
  const event: CanonicalEvent = {
    type: 'decision.recorded',
    link: { kind: 'change_request', externalId: d.recordId as string, data: { approvalId: d.approvalId as string } },
    outcome: d.outcome,
    actor: d.actor as string,
    rationale: (d.rationale as string | null | undefined) ?? null,
    at: d.at as string,
    onBehalfOf: null,
  };
  return { status: 'events', events: [event] };
}
