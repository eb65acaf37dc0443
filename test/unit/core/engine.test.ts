// The engine as the pipeline calls it: plain data in, next change + effects + audit entries out.
// No mocks: a small policy compiled from a plain object, a directory literal, fixed clocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/core/engine.ts';
import { compilePolicy } from '../../../src/core/policy/compile.ts';
import { parseChangeInput } from '../../../src/core/change-schema.ts';
import type { Change, Command, Directory, History, Person } from '../../../src/core/types.ts';
import type { CompiledPolicy } from '../../../src/core/policy/types.ts';

function person(id: string, extra: Partial<Person> = {}): Person {
  return { id, name: id, timeZone: 'Europe/London', workingHours: { start: '09:00', end: '17:00', days: [1, 2, 3, 4, 5] }, manager: null, groups: [], roles: [], active: true, outOfOffice: null, ...extra };
}

const directory: Directory = {
  people: Object.fromEntries([
    person('dev@x.example', { manager: 'lead@x.example', roles: [{ role: 'engineer', team: 'web' }] }),
    person('lead@x.example', { manager: 'boss@x.example', roles: [{ role: 'tech-lead', team: 'web' }] }),
    person('tokyo-lead@x.example', { timeZone: 'Asia/Tokyo', manager: 'boss@x.example', roles: [{ role: 'tech-lead', team: 'api' }] }),
    person('boss@x.example', { groups: ['managers'] }),
    person('cab1@x.example', { groups: ['cab'] }),
    person('cab2@x.example', { groups: ['cab'] }),
    person('medic@x.example', { groups: ['emergency'], workingHours: null }),
    person('sre@x.example', { workingHours: null }),
  ].map((p) => [p.id, p])),
  oncall: { ops: ['sre@x.example'] },
  holidays: [],
  freezes: [],
};

function compile(): CompiledPolicy {
  const r = compilePolicy({
    risk: { factors: [{ id: 'production', when: "change.environment == 'production'", points: 60 }], tiers: { low: 0, high: 60 } },
    prerequisites: [{ id: 'rollback', when: "change.environment == 'production'", require: 'has(change.artifacts.rollbackPlan)', onFail: 'reject', message: 'needs a rollback plan' }],
    routes: [
      { id: 'peer', when: "risk.tier == 'low'", steps: [{ name: 'Lead', approvers: { role: 'tech-lead', team: 'change.team' }, sla: '4h' }] },
      { id: 'cab', when: "risk.tier == 'high'", steps: [{ name: 'Lead', approvers: { role: 'tech-lead', team: 'change.team' } }, { name: 'CAB', approvers: { group: 'cab' }, quorum: 'all' }] },
    ],
    escalation: { clock: 'business', ladder: [{ after: '4h', to: 'manager' }, { after: '8h', to: 'oncall:ops' }] },
    expiry: { approval: '24h' },
    emergency: { when: 'has(change.incident)', approvers: { group: 'emergency' }, validity: '4h', pir: { within: '2d', signoff: { group: 'cab' } } },
  }, { file: 'test-policy', lineOf: () => 0 }, { directory });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.policy;
}
const policy = compile();
const history: History = { incidentRate: 0, similarCount: 0, teamChangesLast7d: 0, medianTeamChangesPerWeek: 0 };

function newChange(fields: Record<string, unknown>, now: Date): Change {
  const r = parseChangeInput({ title: 'Change', environment: 'staging', requester: 'dev@x.example', team: 'web', ...fields }, { id: 'chg-1', now });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.change;
}

function run(change: Change | null, command: Command, at: string) {
  const r = decide(change, command, { policy, directory, history, now: new Date(at) });
  assert.ok(r.ok, !r.ok ? `${r.code}: ${r.reason}` : '');
  return r;
}

const approve = (actor: string, at: string, extra: Record<string, unknown> = {}): Command => ({
  type: 'decide', decision: { outcome: 'approve', actor, rationale: null, sourceTool: 'servicenow', at, onBehalfOf: null, stepId: null, kind: 'normal', expiresAt: null, ...extra },
});

test('submit scores, plans, opens the first step and asks for approval', () => {
  const at = '2026-11-24T10:00:00Z';
  const r = run(null, { type: 'submit', change: newChange({}, new Date(at)), actor: 'dev@x.example', sourceTool: 'github' }, at);
  assert.equal(r.change.state, 'pending-approval');
  assert.deepEqual(r.change.steps.map((s) => [s.id, s.state, s.eligible]), [['peer#1', 'open', ['lead@x.example']]]);
  assert.deepEqual(r.effects.map((e) => e.type), ['sync-state', 'request-approval', 'schedule', 'announce']);
  // SLA 4 business hours in London from 10:00 → 14:00 the same day.
  assert.deepEqual(r.effects.find((e) => e.type === 'schedule'), { type: 'schedule', timer: 'sla', at: '2026-11-24T14:00:00.000Z', stepId: 'peer#1' });
  assert.deepEqual(r.transitions.map((t) => t.action), ['submitted', 'risk-scored', 'plan-built', 'state:pending-approval', 'step-opened']);
});

test('decide never changes the data it was given', () => {
  const at = '2026-11-24T10:00:00Z';
  const input = newChange({}, new Date(at));
  const frozen = structuredClone(input);
  const submitted = run(null, { type: 'submit', change: input, actor: 'dev@x.example', sourceTool: 'github' }, at);
  assert.deepEqual(input, frozen);
  const before = structuredClone(submitted.change);
  run(submitted.change, approve('lead@x.example', at), '2026-11-24T11:00:00Z');
  assert.deepEqual(submitted.change, before);
});

test('a satisfied plan answers the gate and mirrors the state; every state change has an audit entry', () => {
  const at = '2026-11-24T10:00:00Z';
  const prod = newChange({ environment: 'production', artifacts: { rollbackPlan: 'revert' } }, new Date(at));
  let r = run(null, { type: 'submit', change: prod, actor: 'dev@x.example', sourceTool: 'github' }, at);
  assert.deepEqual(r.change.steps.map((s) => s.name), ['Lead', 'CAB']);
  r = run(r.change, approve('lead@x.example', at), '2026-11-24T10:30:00Z');
  assert.deepEqual(r.change.steps.map((s) => s.state), ['approved', 'open']);
  r = run(r.change, approve('cab1@x.example', at), '2026-11-24T11:00:00Z');
  assert.equal(r.change.state, 'pending-approval', 'quorum all: one of two CAB members is not enough');
  r = run(r.change, approve('cab2@x.example', at), '2026-11-24T11:30:00Z');
  assert.equal(r.change.state, 'approved');
  assert.deepEqual(r.effects.filter((e) => e.type === 'answer-gate' || e.type === 'sync-state'), [
    { type: 'sync-state', state: 'approved' },
    { type: 'answer-gate', outcome: 'approved', reason: 'Approved: Lead, CAB (risk high)' },
  ]);
  assert.deepEqual(r.transitions.filter((t) => t.action.startsWith('state:')).map((t) => [t.before, t.after]), [[{ state: 'pending-approval' }, { state: 'approved' }]]);
  assert.equal(r.change.decisions.length, 3);
  assert.equal(r.change.decisions[2]!.expiresAt, '2026-11-25T11:30:00.000Z');
});

test('S5: a stalled step escalates in the approver\'s business hours and time zone, once per rung', () => {
  // The API team's lead works in Tokyo (09:00–17:00 JST = 00:00–08:00Z).
  const at = '2026-11-24T07:00:00Z'; // 16:00 in Tokyo: one working hour left today
  let r = run(null, { type: 'submit', change: newChange({ team: 'api' }, new Date(at)), actor: 'dev@x.example', sourceTool: 'github' }, at);
  assert.deepEqual(r.change.steps[0]!.eligible, ['tokyo-lead@x.example']);
  assert.deepEqual(r.effects.find((e) => e.type === 'schedule'), { type: 'schedule', timer: 'sla', at: '2026-11-25T03:00:00.000Z', stepId: 'peer#1' });
  // London afternoon: many wall-clock hours, but Tokyo is asleep.
  r = run(r.change, { type: 'tick' }, '2026-11-24T16:00:00Z');
  assert.equal(r.effects.length, 0);
  r = run(r.change, { type: 'tick' }, '2026-11-25T03:01:00Z');
  assert.deepEqual(r.effects.find((e) => e.type === 'escalate'), { type: 'escalate', stepId: 'peer#1', to: ['boss@x.example'], level: 1 });
  assert.deepEqual(r.change.steps[0]!.escalations.map((e) => [e.level, e.to]), [[1, ['boss@x.example']]]);
  assert.ok(r.change.steps[0]!.eligible.includes('boss@x.example'));
  const again = run(r.change, { type: 'tick' }, '2026-11-25T03:02:00Z');
  assert.equal(again.effects.filter((e) => e.type === 'escalate').length, 0, 'a second tick does not escalate twice');
  // The escalated manager may now decide.
  const done = run(r.change, approve('boss@x.example', '2026-11-25T04:00:00Z'), '2026-11-25T04:00:00Z');
  assert.equal(done.change.state, 'approved');
});

test('an approval that lapses sends an approved change back for re-evaluation', () => {
  const at = '2026-11-24T10:00:00Z';
  let r = run(null, { type: 'submit', change: newChange({}, new Date(at)), actor: 'dev@x.example', sourceTool: 'github' }, at);
  r = run(r.change, approve('lead@x.example', at), at);
  assert.equal(r.change.state, 'approved');
  assert.deepEqual(r.effects.find((e) => e.type === 'schedule'), { type: 'schedule', timer: 'expiry', at: '2026-11-25T10:00:00.000Z', stepId: 'peer#1' });
  r = run(r.change, { type: 'tick' }, '2026-11-25T10:00:01Z');
  assert.equal(r.change.state, 'pending-approval');
  assert.deepEqual(r.change.steps.map((s) => s.state), ['open']);
  assert.ok(r.effects.some((e) => e.type === 'request-approval'));
});

test('S4: an emergency change not validated in time triggers the rollback effect', () => {
  const at = '2026-11-24T02:00:00Z';
  const incident = { id: 'PD-1', source: 'pagerduty', status: 'triggered', priority: 'P1', title: 'Checkout down' };
  let r = run(null, { type: 'submit', change: newChange({ type: 'emergency', environment: 'production', incident }, new Date(at)), actor: 'dev@x.example', sourceTool: 'pagerduty' }, at);
  assert.equal(r.change.justification, 'Incident PD-1 (P1, triggered): Checkout down');
  r = run(r.change, approve('medic@x.example', at), '2026-11-24T02:05:00Z');
  assert.equal(r.change.state, 'emergency-approved');
  assert.equal(r.change.deadlines.emergencyValidUntil, '2026-11-24T06:05:00.000Z');
  r = run(r.change, { type: 'tick' }, '2026-11-24T06:06:00Z');
  assert.deepEqual(r.effects.find((e) => e.type === 'rollback'), { type: 'rollback', reason: 'Emergency deployment not validated by 2026-11-24T06:05:00.000Z' });
  assert.equal(r.change.state, 'review-pending');
  assert.equal(r.change.deadlines.pirDueAt, '2026-11-26T06:06:00.000Z');
  const repeat = run(r.change, { type: 'tick' }, '2026-11-24T06:07:00Z');
  assert.equal(repeat.effects.filter((e) => e.type === 'rollback').length, 0, 'the rollback runs once');
  r = run(r.change, { type: 'pir-signoff', actor: 'cab1@x.example', notes: 'retro done', sourceTool: 'servicenow' }, '2026-11-25T10:00:00Z');
  assert.equal(r.change.state, 'closed');
  assert.deepEqual(r.change.pir, { signedOffBy: 'cab1@x.example', at: '2026-11-25T10:00:00.000Z', notes: 'retro done' });
});

test('refusals come back as values with a code and a reason', () => {
  const at = new Date('2026-11-24T10:00:00Z');
  const ctx = { policy, directory, history, now: at };
  assert.deepEqual(decide(null, { type: 'tick' }, ctx), { ok: false, code: 'not-found', reason: 'the tick command needs an existing change' });
  const submitted = decide(null, { type: 'submit', change: newChange({}, at), actor: 'dev@x.example', sourceTool: 'github' }, ctx);
  assert.ok(submitted.ok);
  const again = decide(submitted.change, { type: 'submit', change: submitted.change, actor: 'dev@x.example', sourceTool: 'github' }, ctx);
  assert.deepEqual(again, { ok: false, code: 'already-submitted', reason: 'change chg-1 was already submitted (state pending-approval)' });
  const self = decide(submitted.change, approve('dev@x.example', at.toISOString()), ctx);
  assert.ok(!self.ok && self.code === 'separation-of-duties');
  const outsider = decide(submitted.change, approve('cab1@x.example', at.toISOString()), ctx);
  assert.ok(!outsider.ok && outsider.code === 'not-eligible');
  assert.match(outsider.reason, /cab1@x\.example is not among the eligible approvers for "Lead"/);
});

test('an update that raises the risk rebuilds the plan while approval is pending', () => {
  const at = '2026-11-24T10:00:00Z';
  let r = run(null, { type: 'submit', change: newChange({}, new Date(at)), actor: 'dev@x.example', sourceTool: 'github' }, at);
  r = run(r.change, { type: 'update', fields: { environment: 'production', artifacts: { rollbackPlan: 'revert' } }, actor: 'dev@x.example', sourceTool: 'github' }, '2026-11-24T10:10:00Z');
  assert.equal(r.change.risk?.tier, 'high');
  assert.deepEqual(r.change.steps.map((s) => s.name), ['Lead', 'CAB']);
  assert.deepEqual(r.transitions.map((t) => t.action), ['updated', 'risk-scored', 'plan-built', 'step-opened']);
});

test('an approver who leaves after approving does not reopen the step; only time lapses an approval', () => {
  const at = '2026-11-24T10:00:00Z';
  let r = run(null, { type: 'submit', change: newChange({}, new Date(at)), actor: 'dev@x.example', sourceTool: 'github' }, at);
  r = run(r.change, approve('lead@x.example', at), at);
  assert.equal(r.change.steps[0]!.expiresAt, '2026-11-25T10:00:00.000Z');
  const leaver: Directory = { ...directory, people: { ...directory.people, 'lead@x.example': { ...directory.people['lead@x.example']!, active: false } } };
  const later = decide(r.change, { type: 'tick' }, { policy, directory: leaver, history, now: new Date('2026-11-24T18:00:00Z') });
  assert.ok(later.ok);
  assert.equal(later.change.state, 'approved');
  assert.deepEqual(later.effects, []);
});

test('a decision is to be recorded in the system of record before the state it leads to is mirrored', () => {
  const at = '2026-11-24T10:00:00Z';
  let r = run(null, { type: 'submit', change: newChange({}, new Date(at)), actor: 'dev@x.example', sourceTool: 'jira' }, at);
  r = run(r.change, approve('lead@x.example', at, { sourceTool: 'jira' }), at);
  const types = r.effects.map((e) => e.type);
  assert.deepEqual(r.effects.find((e) => e.type === 'record-decision'), { type: 'record-decision', stepId: 'peer#1', outcome: 'approve', approver: 'lead@x.example', rationale: null, sourceTool: 'jira' });
  assert.ok(types.indexOf('record-decision') < types.indexOf('sync-state'), types.join(', '));
});
