// The change lifecycle as a table: which state may follow which. The engine moves changes only through
// `transition()`, so an illegal move is refused with a reason and every legal one leaves an audit entry.
import type { Change, ChangeState, TransitionDraft } from './types.ts';

export const TRANSITIONS: Readonly<Record<ChangeState, readonly ChangeState[]>> = {
  'draft': ['awaiting-prerequisites', 'pending-approval', 'approved', 'rejected', 'cancelled'],
  'awaiting-prerequisites': ['pending-approval', 'approved', 'rejected', 'cancelled', 'expired'],
  'pending-approval': ['approved', 'emergency-approved', 'rejected', 'cancelled', 'expired'],
  // approved → pending-approval: a time-bound approval lapsed before implementation and the change is re-evaluated.
  'approved': ['implementing', 'pending-approval', 'cancelled', 'expired'],
  'emergency-approved': ['implementing', 'implemented', 'rolled-back', 'cancelled'],
  'implementing': ['implemented', 'rolled-back'],
  'implemented': ['closed', 'review-pending', 'rolled-back'],
  'review-pending': ['closed'],
  // A rolled-back emergency change still owes its review.
  'rolled-back': ['review-pending', 'closed'],
  'closed': [],
  'rejected': [],
  'expired': [],
  'cancelled': [],
};

export const TERMINAL: ReadonlySet<ChangeState> = new Set(['closed', 'rejected', 'expired', 'cancelled']);

export function canTransition(from: ChangeState, to: ChangeState): boolean {
  return TRANSITIONS[from]?.includes(to) ?? false;
}

export function whyNot(from: ChangeState, to: ChangeState): string {
  const next = TRANSITIONS[from] ?? [];
  return next.length === 0
    ? `a change in state ${from} is final; it cannot move to ${to}`
    : `a change in state ${from} cannot move to ${to} (it may move to: ${next.join(', ')})`;
}

export interface Actor {
  actor: string;
  sourceTool: string;
}

/**
 * Moves the change to `to` in place and returns its audit entry; throws on an illegal move, which is a
 * bug in the engine (commands are validated before they reach here).
 */
export function transition(change: Change, to: ChangeState, by: Actor, rationale: string | null, at: string): TransitionDraft {
  const from = change.state;
  if (!canTransition(from, to)) throw new Error(`engine bug: ${whyNot(from, to)}`);
  change.state = to;
  change.updatedAt = at;
  return { action: `state:${to}`, actor: by.actor, sourceTool: by.sourceTool, before: { state: from }, after: { state: to }, rationale };
}
