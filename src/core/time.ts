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
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', weekday: 'short' });
    formatters.set(tz, f);
  }
  return f;
}
const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

export function localTime(at: Date, tz: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(tz).formatToParts(at)) parts[p.type] = p.value;
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    weekday: WEEKDAYS[parts.weekday!] ?? 1,
    minuteOfDay: Number(parts.hour) * 60 + Number(parts.minute),
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
  let guess = naive;
  for (let i = 0; i < 2; i++) {
    const lt = localTime(new Date(guess), tz);
    const [ly, lmo, ld] = lt.date.split('-').map(Number) as [number, number, number];
    const asUtc = Date.UTC(ly, lmo - 1, ld, Math.floor(lt.minuteOfDay / 60), lt.minuteOfDay % 60);
    guess = guess + (naive - asUtc);
  }
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
