import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRANSITIONS, canTransition, whyNot, transition } from '../../../src/core/lifecycle.ts';
import { parseChangeInput } from '../../../src/core/change-schema.ts';
import type { ChangeState } from '../../../src/core/types.ts';

const now = new Date('2026-11-24T09:00:00Z');

test('the normal path and the emergency path are legal moves', () => {
  const normal: ChangeState[] = ['draft', 'awaiting-prerequisites', 'pending-approval', 'approved', 'implementing', 'implemented', 'closed'];
  const emergency: ChangeState[] = ['draft', 'pending-approval', 'emergency-approved', 'implementing', 'implemented', 'review-pending', 'closed'];
  for (const path of [normal, emergency]) {
    for (let i = 1; i < path.length; i++) assert.ok(canTransition(path[i - 1]!, path[i]!), `${path[i - 1]} → ${path[i]}`);
  }
});

test('final states go nowhere and say so', () => {
  for (const s of ['closed', 'rejected', 'expired', 'cancelled'] as const) {
    assert.deepEqual(TRANSITIONS[s], []);
    assert.match(whyNot(s, 'approved'), new RegExp(`state ${s} is final`));
  }
});

test('an illegal move names the moves that are allowed', () => {
  assert.equal(canTransition('pending-approval', 'implementing'), false);
  assert.equal(whyNot('pending-approval', 'implementing'), 'a change in state pending-approval cannot move to implementing (it may move to: approved, emergency-approved, rejected, cancelled, expired)');
});

test('a transition changes the state and yields its audit entry', () => {
  const r = parseChangeInput({ title: 't', environment: 'staging', requester: 'a@x.example' }, { id: 'c1', now });
  assert.ok(r.ok);
  const entry = transition(r.change, 'pending-approval', { actor: 'hub', sourceTool: 'hub' }, null, now.toISOString());
  assert.equal(r.change.state, 'pending-approval');
  assert.deepEqual(entry, { action: 'state:pending-approval', actor: 'hub', sourceTool: 'hub', before: { state: 'draft' }, after: { state: 'pending-approval' }, rationale: null });
});
