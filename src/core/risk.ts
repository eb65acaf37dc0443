// Risk: points from the policy's factors, a tier from the thresholds, raised by deployment windows
// (business hours, freezes, holidays — each in its own time zone), and the anomaly flag.
import type { Change, Directory, History, Risk, RiskFactor } from './types.ts';
import type { CompiledPolicy, CompiledWindow, StepTemplate, CelContext } from './policy/types.ts';
import { celContext, riskFacts, type WindowFacts } from './policy/context.ts';
import { detectAnomaly } from './anomaly.ts';
import { localTime } from './time.ts';

export interface Assessment {
  risk: Risk;
  window: WindowFacts;
  /** Steps the active windows add. */
  windowSteps: { window: string; step: StepTemplate }[];
  /** Why each active window applies, in words. */
  windowNotes: string[];
  /** CEL context with risk, for routes and later rules. */
  ctx: CelContext;
}

function windowActive(w: CompiledWindow, at: Date, directory: Directory): string | null {
  if (w.kind === 'business-hours') {
    const lt = localTime(at, w.timeZone);
    const from = w.from ?? 0;
    const until = w.until ?? 1440;
    // A window like 22:00–06:00 runs over midnight (and counts from the day it starts on).
    const inside = from <= until ? lt.minuteOfDay >= from && lt.minuteOfDay < until : lt.minuteOfDay >= from || lt.minuteOfDay < until;
    const day = from <= until || lt.minuteOfDay >= from ? lt.weekday : ((lt.weekday + 5) % 7) + 1;
    return w.days.includes(day) && inside
      ? `${w.id}: ${lt.date} ${String(Math.floor(lt.minuteOfDay / 60)).padStart(2, '0')}:${String(lt.minuteOfDay % 60).padStart(2, '0')} ${w.timeZone} is within business hours`
      : null;
  }
  if (w.kind === 'holiday') {
    const date = localTime(at, w.timeZone).date;
    return directory.holidays.includes(date) ? `${w.id}: ${date} is a holiday in ${w.timeZone}` : null;
  }
  const t = at.getTime();
  const hit = [...w.periods, ...directory.freezes].find((p) => Date.parse(p.from) <= t && t < Date.parse(p.until));
  return hit ? `${w.id}: change freeze (${hit.reason})` : null;
}

/** When the change will happen: its planned start, else now. */
export function changeInstant(change: Change, now: Date): Date {
  const s = change.plannedWindow?.start;
  const t = s ? Date.parse(s) : NaN;
  return Number.isNaN(t) ? now : new Date(t);
}

export function tierFor(score: number, tiers: CompiledPolicy['tiers']): string {
  let tier = tiers[0]?.name ?? 'low';
  for (const t of tiers) if (score >= t.min) tier = t.name;
  return tier;
}

export function assessRisk(change: Change, policy: CompiledPolicy, history: History, directory: Directory, now: Date): Assessment {
  const at = changeInstant(change, now);
  const window: WindowFacts = { active: [], businessHours: false, freeze: false, holiday: false };
  const windowSteps: Assessment['windowSteps'] = [];
  const raises: string[] = [];
  const windowNotes: string[] = [];
  for (const w of policy.windows) {
    const why = windowActive(w, at, directory);
    if (!why) continue;
    window.active.push(w.id);
    if (w.kind === 'business-hours') window.businessHours = true;
    if (w.kind === 'freeze') window.freeze = true;
    if (w.kind === 'holiday') window.holiday = true;
    if (w.raiseTierTo) raises.push(w.raiseTierTo);
    for (const step of w.steps) windowSteps.push({ window: w.id, step });
    windowNotes.push(why);
  }

  const ctx = celContext(change, history, window, null);
  const byId = new Map<string, number>();
  for (const f of policy.factors) {
    if (f.when.test(ctx)) byId.set(f.id, (byId.get(f.id) ?? 0) + f.points);
  }
  const factors: RiskFactor[] = [...byId].map(([id, points]) => ({ id, points }));
  const score = factors.reduce((a, f) => a + f.points, 0);
  let tier = tierFor(score, policy.tiers);
  const rank = (name: string) => policy.tiers.findIndex((t) => t.name === name);
  for (const r of raises) if (rank(r) > rank(tier)) tier = r;
  // Windows show up as zero-point factors so the record says why the tier was raised.
  for (const id of window.active) factors.push({ id: `window:${id}`, points: 0 });

  let anomaly: Risk['anomaly'] = null;
  if (policy.anomaly) {
    const tz = directory.people[change.requester]?.timeZone ?? policy.anomaly.timeZone;
    anomaly = detectAnomaly(change, history, at, tz, policy.anomaly);
  }
  const risk: Risk = { score, tier, factors, anomaly };
  ctx.risk = riskFacts(risk);
  return { risk, window, windowSteps, windowNotes, ctx };
}
