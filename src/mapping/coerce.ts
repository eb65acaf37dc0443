// Type coercions between external wire values and canonical values. ServiceNow sends every value as a
// string ("3", "true", "" for empty) and times as "YYYY-MM-DD HH:mm:ss" in UTC with no zone; Jira sends
// "2024-11-24T14:20:00.118+0100" (no colon in the offset); the hub speaks ISO-8601 in UTC ("…Z").

import type { CanonicalType } from './schema.ts';

export type TimeFormat = 'iso' | 'servicenow' | 'jira' | 'epoch-ms';
export const timeFormats: readonly TimeFormat[] = ['iso', 'servicenow', 'jira', 'epoch-ms'];

export type Coerced = { ok: true; value: unknown } | { ok: false; reason: string };

const serviceNowTime = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$/;
const zonedTime = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})$/;

/** Parses an external time into ISO-8601 UTC, or says why it cannot. */
export function parseTime(value: unknown, format: TimeFormat): Coerced {
  if (typeof value === 'number' || (format === 'epoch-ms' && typeof value === 'string' && /^\d+$/.test(value))) {
    const ms = Number(value);
    if (!Number.isFinite(ms)) return { ok: false, reason: `"${value}" is not a time` };
    return { ok: true, value: new Date(ms).toISOString() };
  }
  if (typeof value !== 'string') return { ok: false, reason: `expected a time, got ${describe(value)}` };
  const sn = serviceNowTime.exec(value);
  if (sn) {
    // ServiceNow's Table API returns raw times in UTC; a zone-less time from anywhere else is ambiguous.
    if (format !== 'servicenow') {
      return { ok: false, reason: `"${value}" has no time zone (set format: servicenow if it is ServiceNow UTC time)` };
    }
    return { ok: true, value: new Date(`${sn[1]}T${sn[2]}Z`).toISOString() };
  }
  const zoned = zonedTime.exec(value);
  if (zoned) {
    const zone = zoned[2] === 'Z' ? 'Z' : `${zoned[2]!.slice(0, 3)}:${zoned[2]!.slice(-2)}`;
    const ms = Date.parse(`${zoned[1]}${zone}`);
    if (Number.isFinite(ms)) return { ok: true, value: new Date(ms).toISOString() };
  }
  return { ok: false, reason: `"${value}" is not a recognised time (ISO-8601, ServiceNow "YYYY-MM-DD HH:mm:ss" or Jira "…+0100")` };
}

/** Formats an ISO time for the external system. */
export function formatTime(iso: string, format: TimeFormat): string | number {
  const date = new Date(iso);
  if (!Number.isFinite(date.getTime())) return iso;
  const s = date.toISOString(); // 2024-11-24T14:00:00.000Z
  switch (format) {
    case 'servicenow':
      return `${s.slice(0, 10)} ${s.slice(11, 19)}`;
    case 'jira':
      return `${s.slice(0, 23)}+0000`;
    case 'epoch-ms':
      return date.getTime();
    default:
      return s;
  }
}

/** Coerces an external value (already through the value map, if any) into the canonical type. */
export function coerceIn(value: unknown, type: CanonicalType, format: TimeFormat): Coerced {
  switch (type) {
    case 'string':
      if (typeof value === 'string') return { ok: true, value };
      if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return { ok: true, value: String(value) };
      // A ServiceNow reference ({link, value}) stands for its sys_id.
      if (isReference(value)) return { ok: true, value: value.value };
      return { ok: false, reason: `expected text, got ${describe(value)}` };
    case 'number': {
      if (typeof value === 'bigint') return { ok: true, value: Number(value) };
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, reason: `expected a number, got ${describe(value)}` };
    }
    case 'boolean':
      if (typeof value === 'boolean') return { ok: true, value };
      if (value === 'true' || value === '1' || value === 1) return { ok: true, value: true };
      if (value === 'false' || value === '0' || value === 0) return { ok: true, value: false };
      return { ok: false, reason: `expected true or false, got ${describe(value)}` };
    case 'datetime':
      return parseTime(value, format);
    case 'string[]': {
      // ServiceNow list fields (glide_list) arrive as one comma-separated string.
      const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : value;
      if (!Array.isArray(list)) return { ok: false, reason: `expected a list, got ${describe(value)}` };
      const out: string[] = [];
      for (const item of list) {
        const one = coerceIn(item, 'string', format);
        if (!one.ok) return { ok: false, reason: `list item: ${one.reason}` };
        out.push(one.value as string);
      }
      return { ok: true, value: out };
    }
    case 'json':
      return { ok: true, value: toJson(value) };
  }
}

function isReference(value: unknown): value is { value: string } {
  return typeof value === 'object' && value !== null && typeof (value as { value?: unknown }).value === 'string' && 'link' in value;
}

/** CEL returns integers as BigInt; JSON has numbers only. */
export function toJson(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toJson(v)]));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `"${value.length > 60 ? `${value.slice(0, 57)}...` : value}"`;
  return String(value);
}
