// Who may approve a step, from the directory: by group, role (optionally within a team), the
// requester's manager, on-call, or named people. Eligibility is checked again at decision time, and
// separation of duties is applied last so no route, escalation or delegation can bring the requester back.
import type { Approvers, Change, Directory, Person, Step } from './types.ts';

interface DirectoryIndex {
  byGroup: Map<string, string[]>;
  byRole: Map<string, { id: string; team: string | null }[]>;
}

// The directory is immutable data for the length of a decision; indexing it once per Directory object
// keeps approver resolution from scanning every person for every step.
const indexes = new WeakMap<Directory, DirectoryIndex>();
function indexOf(directory: Directory): DirectoryIndex {
  let ix = indexes.get(directory);
  if (!ix) {
    ix = { byGroup: new Map(), byRole: new Map() };
    for (const p of Object.values(directory.people)) {
      for (const g of p.groups) ix.byGroup.set(g, [...(ix.byGroup.get(g) ?? []), p.id]);
      for (const r of p.roles) ix.byRole.set(r.role, [...(ix.byRole.get(r.role) ?? []), { id: p.id, team: r.team }]);
    }
    indexes.set(directory, ix);
  }
  return ix;
}

export function resolveApprovers(approvers: Approvers, change: Change, directory: Directory): string[] {
  const out = new Set<string>();
  const ix = indexOf(directory);
  if (approvers.group) for (const id of ix.byGroup.get(approvers.group) ?? []) out.add(id);
  if (approvers.role) {
    for (const r of ix.byRole.get(approvers.role) ?? []) {
      if (approvers.team == null || r.team === null || r.team === approvers.team) out.add(r.id);
    }
  }
  if (approvers.manager) {
    const m = directory.people[change.requester]?.manager;
    if (m) out.add(m);
  }
  if (approvers.oncall) for (const id of directory.oncall[approvers.oncall] ?? []) out.add(id);
  for (const id of approvers.people ?? []) out.add(id);
  return [...out];
}

export function isAway(p: Person | undefined, now: Date): boolean {
  const o = p?.outOfOffice;
  return !!o && Date.parse(o.from) <= now.getTime() && now.getTime() < Date.parse(o.until);
}

/** Active people other than the requester: the separation-of-duties filter every list passes through. */
export function allowed(ids: Iterable<string>, change: Change, directory: Directory): string[] {
  const out: string[] = [];
  for (const id of ids) {
    const p = directory.people[id];
    if (!p || !p.active || id === change.requester) continue;
    if (!out.includes(id)) out.push(id);
  }
  return out;
}

export interface Eligibility {
  /** People who may decide in their own name. */
  direct: string[];
  /** Delegates standing in for an eligible approver who is out of office: delegate → approver. */
  delegates: Map<string, string>;
}

/**
 * Eligibility of a step now: the approvers its definition names (as resolved when it opened, team
 * included), plus whoever escalations added, minus inactive people and the requester; delegates of
 * approvers who are out of office, never the requester. An absent approver without a recorded
 * delegate is covered by the on-call of `fallbackOncall` when the policy names one.
 */
export function eligibility(step: Step, change: Change, directory: Directory, now: Date, fallbackOncall: string | null = null): Eligibility {
  const named = resolveApprovers(step.approvers, change, directory);
  const escalated = step.escalations.flatMap((e) => e.to);
  const direct = allowed([...named, ...escalated], change, directory);
  const delegates = new Map<string, string>();
  const fallback = fallbackOncall ? allowed(directory.oncall[fallbackOncall] ?? [], change, directory) : [];
  for (const id of direct) {
    const p = directory.people[id];
    if (!isAway(p, now)) continue;
    const recorded = p?.outOfOffice?.delegate;
    const candidates = recorded ? [recorded] : fallback;
    const d = allowed(candidates, change, directory).find((x) => x !== id && !delegates.has(x) && !isAway(directory.people[x], now));
    if (d) delegates.set(d, id);
  }
  return { direct, delegates };
}
