// The hub's own event shapes, for systems without a dedicated connector (an internal deploy tool, a
// script): the sender speaks canonical JSON and the generic mappings check it.
//
//   { "type": "change.requested", "change": { title, environment, requester, ... },
//     "link": { "kind": "deployment", "externalId": "deploy-4711", "url": "https://deploy.example/4711" },
//     "relatedLinks": [ { "kind": "issue", "externalId": "CHG-42", "data": { "connection": "jira-cloud" } } ] }
//   { "type": "decision.recorded", "link": {...}, "outcome": "approve" | "reject", "actor": "a@example.com",
//     "rationale": "…", "at": "2024-11-24T13:10:02Z", "onBehalfOf": null }
import type { CanonicalEvent, ExternalRef, InboundDelivery, JsonObject, ParseContext, ParseResult } from '../../src/sdk/index.ts';

export function parseGeneric(delivery: InboundDelivery, ctx: ParseContext): ParseResult {
  let body: unknown;
  try {
    body = JSON.parse(delivery.rawBody.toString('utf8'));
  } catch {
    return { status: 'failed', reason: 'body is not JSON' };
  }
  if (!isObject(body)) return { status: 'failed', reason: 'body is not a JSON object' };
  const type = body.type;
  if (type !== 'change.requested' && type !== 'decision.recorded') {
    return { status: 'ignored', reason: `event type ${JSON.stringify(type ?? null)} is not handled (expected change.requested or decision.recorded)` };
  }
  const link = externalRef(body.link, 'link');
  if (!link.ok) return { status: 'failed', reason: link.reason };

  if (type === 'change.requested') {
    const change = ctx.normalize('change', body.change ?? {});
    if (!change.ok) return { status: 'failed', reason: `change.${change.field}: ${change.reason}` };
    const related: ExternalRef[] = [];
    const list = body.relatedLinks ?? [];
    if (!Array.isArray(list)) return { status: 'failed', reason: 'relatedLinks: expected a list' };
    for (const [i, item] of list.entries()) {
      const ref = externalRef(item, `relatedLinks[${i}]`);
      if (!ref.ok) return { status: 'failed', reason: ref.reason };
      related.push(ref.ref);
    }
    const event: CanonicalEvent = { type, change: change.value, link: link.ref, ...(related.length > 0 ? { relatedLinks: related } : {}) };
    return { status: 'events', events: [event] };
  }

  const decision = ctx.normalize('decision', body);
  if (!decision.ok) return { status: 'failed', reason: `${decision.field}: ${decision.reason}` };
  const d = decision.value;
  return {
    status: 'events',
    events: [{
      type,
      link: link.ref,
      outcome: d.outcome as 'approve' | 'reject',
      actor: d.actor as string,
      rationale: (d.rationale as string | undefined) ?? null,
      at: d.at as string,
      onBehalfOf: (d.onBehalfOf as string | undefined) ?? null,
    }],
  };
}

function externalRef(value: unknown, where: string): { ok: true; ref: ExternalRef } | { ok: false; reason: string } {
  if (!isObject(value)) return { ok: false, reason: `${where}: expected an object with kind and externalId` };
  if (typeof value.kind !== 'string' || value.kind === '') return { ok: false, reason: `${where}.kind: expected a non-empty string` };
  if (typeof value.externalId !== 'string' || value.externalId === '') return { ok: false, reason: `${where}.externalId: expected a non-empty string` };
  if (value.url !== undefined && value.url !== null && typeof value.url !== 'string') return { ok: false, reason: `${where}.url: expected a string` };
  if (value.data !== undefined && !isObject(value.data)) return { ok: false, reason: `${where}.data: expected an object` };
  return {
    ok: true,
    ref: {
      kind: value.kind,
      externalId: value.externalId,
      ...(typeof value.url === 'string' ? { url: value.url } : {}),
      ...(isObject(value.data) ? { data: value.data as JsonObject } : {}),
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
