// The anomaly flag on unusual change patterns. Model: the modified z-score of Iglewicz & Hoaglin,
// z = 0.6745 · (x − median) / MAD, against the team's own recent changes; |z| above the threshold
// (3.5 by default) flags. Median and MAD are used instead of mean and standard deviation because one
// huge past change must not hide the next one. When MAD is 0 (most samples equal) the mean absolute
// deviation stands in (z = (x − median) / (1.253314 · meanAD)), as the same authors suggest.
import type { Change, History } from './types.ts';
import { localTime } from './time.ts';

export interface AnomalySettings {
  threshold: number;
  minSamples: number;
  /** Used when no weekly baseline is known: flag when the last 7 days exceed this multiple of the median week. */
  frequencyRatio: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Modified z-score of x against samples (positive when x is above the median). */
export function modifiedZ(x: number, samples: readonly number[]): number {
  const med = median(samples);
  const dev = samples.map((v) => Math.abs(v - med));
  const mad = median(dev);
  if (mad > 0) return (0.6745 * (x - med)) / mad;
  const meanAd = dev.reduce((a, b) => a + b, 0) / (dev.length || 1);
  if (meanAd > 0) return (x - med) / (1.253314 * meanAd);
  return x === med ? 0 : x > med ? Infinity : -Infinity;
}

function hourDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % 24;
  return Math.min(d, 24 - d);
}

/** Hours of the day are circular (23:00 is next to 00:00): the z-score uses circular distances. */
function circularHourZ(hour: number, samples: readonly number[]): number {
  let best = 0;
  let bestCost = Infinity;
  for (let h = 0; h < 24; h++) {
    const cost = samples.reduce((a, s) => a + hourDistance(s, h), 0);
    if (cost < bestCost) { bestCost = cost; best = h; }
  }
  // Distances from the circular median, mirrored so the median of the reference set is 0.
  const dev = samples.map((v) => hourDistance(v, best));
  return modifiedZ(hourDistance(hour, best), dev.concat(dev.map((d) => -d)));
}

export function detectAnomaly(change: Change, history: History, at: Date, tz: string, s: AnomalySettings): { flagged: boolean; reasons: string[] } {
  const reasons: string[] = [];
  const b = history.baseline;
  const size = change.size?.linesChanged;
  if (b && size != null && b.sizes.length >= s.minSamples) {
    const z = modifiedZ(size, b.sizes);
    if (z > s.threshold) reasons.push(`size: ${size} lines changed against a team median of ${median(b.sizes)} (modified z ${fmt(z)} > ${s.threshold})`);
  }
  if (b && b.hoursOfDay.length >= s.minSamples) {
    const hour = Math.floor(localTime(at, tz).minuteOfDay / 60);
    const z = circularHourZ(hour, b.hoursOfDay);
    if (z > s.threshold) reasons.push(`time: planned for ${String(hour).padStart(2, '0')}:00 ${tz}, unusual for this team (modified z ${fmt(z)} > ${s.threshold})`);
  }
  if (b && b.weeklyCounts.length >= s.minSamples) {
    const z = modifiedZ(history.teamChangesLast7d, b.weeklyCounts);
    if (z > s.threshold) reasons.push(`frequency: ${history.teamChangesLast7d} changes in the last 7 days against a median week of ${median(b.weeklyCounts)} (modified z ${fmt(z)} > ${s.threshold})`);
  } else if (history.medianTeamChangesPerWeek > 0 && history.teamChangesLast7d > s.frequencyRatio * history.medianTeamChangesPerWeek) {
    reasons.push(`frequency: ${history.teamChangesLast7d} changes in the last 7 days, more than ${s.frequencyRatio}× the median week of ${history.medianTeamChangesPerWeek}`);
  }
  return { flagged: reasons.length > 0, reasons };
}

function fmt(z: number): string {
  return Number.isFinite(z) ? z.toFixed(1) : '∞';
}
