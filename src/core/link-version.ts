// Where a link's record stands against the version the hub last saw of it. No tool guarantees the order
// of its webhooks (Jira and ServiceNow none, PagerDuty only per incident), and reconciliation re-reads
// records: an event carrying an older version than the one already seen is a late arrival, and applying
// it would move the change back. Tools give versions in one of two orderable forms, a counter
// (ServiceNow sys_mod_count) or a timestamp (Jira fields.updated, PagerDuty occurred_at); anything else
// is opaque and cannot be ordered.

export type VersionOrder = 'newer' | 'same' | 'older' | 'unordered';

const counter = /^\d+$/;
const timestamp = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;

/** How `incoming` compares with `seen` (the link's versionSeen). A missing version on either side, or
 * two values of different forms, are 'unordered' except that anything is newer than nothing seen. */
export function compareVersions(incoming: string | null | undefined, seen: string | null | undefined): VersionOrder {
  if (incoming == null || incoming === '') return 'unordered';
  if (seen == null || seen === '') return 'newer';
  if (incoming === seen) return 'same';
  if (counter.test(incoming) && counter.test(seen)) return order(BigInt(incoming), BigInt(seen));
  const a = instant(incoming);
  const b = instant(seen);
  return a === null || b === null ? 'unordered' : order(a, b);
}

function order<T extends number | bigint>(a: T, b: T): VersionOrder {
  return a > b ? 'newer' : a < b ? 'older' : 'same';
}

/** Milliseconds of an ISO-8601-like time: Jira's "+0100" and GitLab's " +0000" offsets are made ISO's, and
 * a time without a zone (ServiceNow's "YYYY-MM-DD HH:mm:ss") is UTC, as those tools document. */
function instant(text: string): number | null {
  if (!timestamp.test(text)) return null;
  let iso = text.replace(' ', 'T').replace(/ ?([+-]\d{2}):?(\d{2})$/, '$1:$2');
  if (!/(Z|[+-]\d{2}:\d{2})$/i.test(iso)) iso += 'Z';
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
}
