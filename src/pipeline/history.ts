// Outcome history for the risk model, computed from stored changes: how often similar past changes
// (same environment, a shared service, same team) ended badly (rolled back, or marked by an operator
// as having caused an incident with the label `causedIncident`), how busy the team is compared with
// its usual week, and the team's recent pattern (sizes, planned hours, weekly counts) for the anomaly model.
import type { Change, History } from '../core/types.ts';
import type { ChangeRecord, Store } from '../store/port.ts';

/** How far back similar changes are looked for; bounded so a submit never scans the whole store. */
const LOOKBACK_DAYS = 90;
const MAX_SCANNED = 200;
const WEEK_MS = 7 * 24 * 3600 * 1000;
/** How long a team's scanned changes are reused: history is a statistical input, and the store's read
 * (synchronous on SQLite) must not run for every webhook of a busy team. */
const CACHE_MS = 30_000;
const CACHE_TEAMS = 200;

/** Recent changes per team (or for all teams), read at most every CACHE_MS. Lives in the pipeline's
 * context, never at module level. */
export type HistoryCache = Map<string, RecentChanges>;

/** The changes read, with their creation times parsed once (every submit of the team walks them). */
interface RecentChanges {
  readAt: number;
  past: ChangeRecord[];
  createdMs: number[];
}

async function recentChanges(store: Store, team: string | null, now: Date, cache?: HistoryCache): Promise<RecentChanges> {
  const key = team ?? '';
  const hit = cache?.get(key);
  if (hit && now.getTime() - hit.readAt < CACHE_MS) return hit;
  const since = new Date(now.getTime() - LOOKBACK_DAYS * 24 * 3600 * 1000).toISOString();
  const past: ChangeRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.changes.list(team ? { team, since } : { since }, { limit: MAX_SCANNED, cursor });
    past.push(...page.items);
    cursor = page.next;
  } while (cursor && past.length < MAX_SCANNED);
  const recent = { readAt: now.getTime(), past, createdMs: past.map((c) => Date.parse(c.createdAt)) };
  if (cache) {
    if (cache.size >= CACHE_TEAMS) cache.clear();
    cache.set(key, recent);
  }
  return recent;
}

export async function historyFor(store: Store, change: Pick<Change, 'id' | 'team' | 'environment' | 'services'>, now: Date, timeZone = 'UTC', cache?: HistoryCache): Promise<History> {
  const recent = await recentChanges(store, change.team, now, cache);
  const past: ChangeRecord[] = [];
  const createdMs: number[] = [];
  recent.past.forEach((c, i) => {
    if (c.id === change.id) return;
    past.push(c);
    createdMs.push(recent.createdMs[i]!);
  });

  const services = new Set(change.services);
  const similar = past.filter((c) => {
    const d = c.data as unknown as Partial<Change>;
    if ((d.environment ?? c.environment) !== change.environment) return false;
    return services.size === 0 || (d.services ?? []).some((s) => services.has(s));
  });
  const incidents = similar.filter((c) => {
    const d = c.data as unknown as Partial<Change>;
    return c.state === 'rolled-back' || d.labels?.causedIncident !== undefined;
  }).length;

  const weeks = new Map<number, number>();
  let last7d = 0;
  for (const created of createdMs) {
    const age = now.getTime() - created;
    if (age < WEEK_MS) last7d++;
    const week = Math.floor(age / WEEK_MS);
    weeks.set(week, (weeks.get(week) ?? 0) + 1);
  }
  // Median over the complete weeks since the oldest change seen (within the look-back window), quiet
  // weeks counted as zero. Weeks before the first recorded change are unknown, not quiet: counting them
  // would make any team on a fresh install look anomalously busy.
  const oldestAge = createdMs.reduce((m, created) => Math.max(m, now.getTime() - created), 0);
  const knownWeeks = Math.min(Math.floor(LOOKBACK_DAYS / 7), Math.floor(oldestAge / WEEK_MS));
  const counts = Array.from({ length: knownWeeks }, (_, w) => weeks.get(w + 1) ?? 0).sort((a, b) => a - b);
  const mid = Math.floor(counts.length / 2);
  const median = counts.length === 0 ? 0 : counts.length % 2 ? counts[mid]! : (counts[mid - 1]! + counts[mid]!) / 2;

  const teamPast = change.team ? past.map((c) => c.data as unknown as Partial<Change>) : [];
  // Building a formatter costs more than the rest of this function: only when a planned window needs it.
  let hourOf: Intl.DateTimeFormat | null = null;
  const hour = (at: string) => Number((hourOf ??= new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' })).format(new Date(at)));
  return {
    incidentRate: similar.length === 0 ? 0 : incidents / similar.length,
    similarCount: similar.length,
    teamChangesLast7d: change.team ? last7d : 0,
    medianTeamChangesPerWeek: change.team ? median : 0,
    baseline: {
      sizes: teamPast.flatMap((d) => (typeof d.size?.linesChanged === 'number' ? [d.size.linesChanged] : [])),
      hoursOfDay: teamPast.flatMap((d) => (d.plannedWindow?.start ? [hour(d.plannedWindow.start)] : [])),
      weeklyCounts: change.team ? counts : [],
    },
  };
}
