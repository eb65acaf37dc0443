// Durations and calendars: wall-clock minutes, and business minutes counted in one person's working
// hours and time zone (holidays excluded). Pure: every function takes the instants it works on.
import type { Person } from './types.ts';

const UNIT_MINUTES: Record<string, number> = { m: 1, h: 60, d: 1440, w: 10080 };

/** "90m", "4h", "5d", "1w", "1h30m" → minutes; null when the text is not a duration. */
export function parseDuration(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const s = text.trim();
  if (!/^(\d+(\.\d+)?[mhdw])+$/.test(s)) return null;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)([mhdw])/g)) total += Number(m[1]) * UNIT_MINUTES[m[2]!]!;
  return total > 0 ? Math.round(total) : null;
}

/** 4320 → "72h", 90 → "1h30m", 10080 → "7d": how the policy would write it. */
export function formatMinutes(minutes: number): string {
  if (minutes % 1440 === 0) return `${minutes / 1440}d`;
  if (minutes % 60 === 0) return `${minutes / 60}h`;
  return minutes > 60 ? `${Math.floor(minutes / 60)}h${minutes % 60}m` : `${minutes}m`;
}

export function addMinutes(at: Date, minutes: number): Date {
  return new Date(at.getTime() + minutes * 60_000);
}

export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

export interface LocalTime {
  date: string; // YYYY-MM-DD in that zone
  weekday: number; // 1 = Monday .. 7 = Sunday
  minuteOfDay: number; // 0..1439
}

// Intl formatters are costly to build and immutable once built, so one per zone is kept.
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    formatters.set(tz, f);
  }
  return f;
}

/**
 * UTC offset (minutes) of a zone at an instant, memoised per zone and UTC hour: Intl is slow and
 * nearly every offset change happens on a whole UTC hour. (A zone whose change falls mid-hour in UTC,
 * e.g. America/St_Johns at 04:30Z, is off by that fraction during that one hour a year.)
 */
const offsets = new Map<string, number>();
function offsetMinutes(ms: number, tz: string): number {
  const hour = Math.floor(ms / 3_600_000);
  const key = `${tz}|${hour}`;
  let off = offsets.get(key);
  if (off === undefined) {
    const probe = hour * 3_600_000;
    const parts: Record<string, string> = {};
    for (const p of formatter(tz).formatToParts(new Date(probe))) parts[p.type] = p.value;
    const asUtc = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute));
    off = Math.round((asUtc - probe) / 60_000);
    if (offsets.size > 50_000) offsets.clear();
    offsets.set(key, off);
  }
  return off;
}

export function localTime(at: Date, tz: string): LocalTime {
  const local = new Date(at.getTime() + offsetMinutes(at.getTime(), tz) * 60_000);
  const dow = local.getUTCDay();
  return {
    date: local.toISOString().slice(0, 10),
    weekday: dow === 0 ? 7 : dow,
    minuteOfDay: local.getUTCHours() * 60 + local.getUTCMinutes(),
  };
}

/** "09:30" → 570 */
export function clockMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

/** The UTC instant of a local wall-clock time in a zone (two passes absorb DST offsets). */
export function zonedInstant(date: string, minuteOfDay: number, tz: string): Date {
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const naive = Date.UTC(y, mo - 1, d, Math.floor(minuteOfDay / 60), minuteOfDay % 60);
  // Two passes settle the offset on either side of a DST change.
  let guess = naive - offsetMinutes(naive, tz) * 60_000;
  guess = naive - offsetMinutes(guess, tz) * 60_000;
  return new Date(guess);
}

function nextDate(date: string): string {
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, mo - 1, d + 1)).toISOString().slice(0, 10);
}

/** The working interval of one local day for a person, or null (weekend, holiday, day off). */
function workingInterval(person: Person, date: string, weekday: number, holidays: ReadonlySet<string>): [number, number] | null {
  const wh = person.workingHours;
  if (!wh || !wh.days.includes(weekday) || holidays.has(date)) return null;
  const start = zonedInstant(date, clockMinutes(wh.start), person.timeZone).getTime();
  const end = zonedInstant(date, clockMinutes(wh.end), person.timeZone).getTime();
  return end > start ? [start, end] : null;
}

/**
 * Minutes of the person's working time between two instants. People without working hours (on-call
 * rotations, service accounts) count every minute.
 */
export function businessMinutesBetween(person: Person, from: Date, to: Date, holidays: readonly string[]): number {
  if (to <= from) return 0;
  if (!person.workingHours) return (to.getTime() - from.getTime()) / 60_000;
  const hol = new Set(holidays);
  let total = 0;
  let date = localTime(from, person.timeZone).date;
  const lastDate = localTime(to, person.timeZone).date;
  for (let guard = 0; guard < 3700; guard++) {
    const noon = zonedInstant(date, 720, person.timeZone);
    const iv = workingInterval(person, date, localTime(noon, person.timeZone).weekday, hol);
    if (iv) {
      const s = Math.max(iv[0], from.getTime());
      const e = Math.min(iv[1], to.getTime());
      if (e > s) total += (e - s) / 60_000;
    }
    if (date >= lastDate) break;
    date = nextDate(date);
  }
  return total;
}

/** The instant at which `minutes` of the person's working time have passed after `from`. */
export function addBusinessMinutes(person: Person, from: Date, minutes: number, holidays: readonly string[]): Date {
  if (!person.workingHours) return addMinutes(from, minutes);
  const hol = new Set(holidays);
  let left = minutes * 60_000;
  let date = localTime(from, person.timeZone).date;
  for (let guard = 0; guard < 3700; guard++) {
    const noon = zonedInstant(date, 720, person.timeZone);
    const iv = workingInterval(person, date, localTime(noon, person.timeZone).weekday, hol);
    if (iv) {
      const s = Math.max(iv[0], from.getTime());
      if (iv[1] > s) {
        if (iv[1] - s >= left) return new Date(s + left);
        left -= iv[1] - s;
      }
    }
    date = nextDate(date);
  }
  // A person whose working hours never occur (e.g. days: []) never accrues business time.
  return new Date(8.64e15);
}
