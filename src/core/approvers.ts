// Who may approve a step, from the directory: by group, role (optionally within a team), the
// requester's manager, on-call, or named people. Eligibility is checked again at decision time, and
// separation of duties is applied last so no route, escalation or delegation can bring the requester back.
import type { Approvers, Change, Directory, Person, Step } from './types.ts';

export function resolveApprovers(approvers: Approvers, change: Change, directory: Directory): string[] {
  const out = new Set<string>();
  const people = Object.values(directory.people);
  if (approvers.group) for (const p of people) if (p.groups.includes(approvers.group)) out.add(p.id);
  if (approvers.role) {
    for (const p of people) {
      if (p.roles.some((r) => r.role === approvers.role && (approvers.team == null || r.team === null || r.team === approvers.team))) out.add(p.id);
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
 * approvers who are out of office, never the requester.
 */
export function eligibility(step: Step, change: Change, directory: Directory, now: Date): Eligibility {
  const named = resolveApprovers(step.approvers, change, directory);
  const escalated = step.escalations.flatMap((e) => e.to);
  const direct = allowed([...named, ...escalated], change, directory);
  const delegates = new Map<string, string>();
  for (const id of direct) {
    const p = directory.people[id];
    const d = p?.outOfOffice?.delegate;
    if (d && isAway(p, now) && allowed([d], change, directory).length === 1 && !delegates.has(d)) delegates.set(d, id);
  }
  return { direct, delegates };
}
