// PagerDuty v3 webhook → canonical events. One event per delivery ({ event: { event_type, data } }).
// Incident events update the incident on the change linked to it (an emergency change raised for the
// incident, say); the pipeline ignores them, saying so, when no change is linked.
import { jsonObjectOf, type InboundDelivery, type JsonObject, type ParseResult } from '../../src/sdk/index.ts';

interface PagerDutyEvent {
  id?: unknown;
  event_type?: unknown;
  resource_type?: unknown;
  occurred_at?: unknown;
  data?: Record<string, unknown> | null;
}

/** The delivery's event, or null when the body is not a v3 webhook envelope. */
export function pagerDutyEvent(delivery: InboundDelivery, body?: unknown): PagerDutyEvent | null {
  const event = jsonObjectOf(delivery, body)?.event;
  return event && typeof event === 'object' && !Array.isArray(event) ? (event as PagerDutyEvent) : null;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

export function parsePagerDuty(delivery: InboundDelivery): ParseResult {
  const event = pagerDutyEvent(delivery);
  if (!event) return { status: 'failed', reason: 'the body is not a PagerDuty v3 webhook: no "event" object' };
  const type = str(event.event_type);
  if (!type) return { status: 'failed', reason: 'event.event_type is missing' };
  if (!type.startsWith('incident.') || event.resource_type !== 'incident') return { status: 'ignored', reason: `event "${type}" is not handled (expected incident.*)` };
  const data = event.data ?? {};
  // incident.annotated and the responder events carry another object (a note, a request) as data.
  if (data.type !== 'incident') return { status: 'ignored', reason: `event "${type}" carries no incident (data.type ${JSON.stringify(data.type ?? null)})` };
  const id = str(data.id);
  if (!id) return { status: 'failed', reason: 'event.data.id (the incident id) is missing' };
  const priority = data.priority && typeof data.priority === 'object' ? str((data.priority as { summary?: unknown }).summary) : null;
  const incident: JsonObject = {
    id,
    status: str(data.status),
    urgency: str(data.urgency),
    priority,
    title: str(data.title) ?? '',
    url: str(data.html_url),
  };
  return {
    status: 'events',
    events: [{ type: 'incident.updated', link: { kind: 'incident', externalId: id, url: str(data.html_url), version: str(event.occurred_at) }, incident }],
  };
}
