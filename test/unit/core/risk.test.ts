// Risk scoring over plain data: factor points, tiers, and windows evaluated in their own time zone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assessRisk, tierFor } from '../../../src/core/risk.ts';
import { compilePolicy } from '../../../src/core/policy/compile.ts';
import { parseChangeInput } from '../../../src/core/change-schema.ts';
import type { Directory } from '../../../src/core/types.ts';

const directory: Directory = { people: {}, oncall: {}, holidays: ['2026-11-27'], freezes: [{ from: '2026-12-19T00:00:00Z', until: '2027-01-04T00:00:00Z', reason: 'Year end' }] };
const history = { incidentRate: 0.25, similarCount: 8, teamChangesLast7d: 0, medianTeamChangesPerWeek: 0 };

const compiled = compilePolicy({
  risk: {
    factors: [
      { id: 'production', when: "change.environment == 'production'", points: 30 },
      { id: 'history', when: 'history.incidentRate >= 0.2 && history.similarCount >= 5', points: 20 },
      { id: 'blast-radius', when: 'size(change.services) > 3', points: 15 },
    ],
    tiers: { low: 0, medium: 30, high: 60 },
  },
  windows: [
    { id: 'tokyo-holiday', kind: 'holiday', timeZone: 'Asia/Tokyo', raiseTierTo: 'high' },
    { id: 'launch-freeze', kind: 'freeze', periods: [{ from: '2026-11-30T00:00:00Z', until: '2026-12-01T00:00:00Z', reason: 'Launch day' }], raiseTierTo: 'medium' },
  ],
  routes: [],
}, { file: 'risk-test', lineOf: () => 0 });
assert.ok(compiled.ok);
const policy = compiled.policy;

function change(fields: Record<string, unknown>) {
  const r = parseChangeInput({ title: 't', environment: 'staging', requester: 'a@x.example', ...fields }, { id: 'c', now: new Date('2026-11-24T00:00:00Z') });
  assert.ok(r.ok);
  return r.change;
}

test('points add up per factor and pick the tier', () => {
  const a = assessRisk(change({ environment: 'production', services: ['a', 'b', 'c', 'd'] }), policy, history, directory, new Date('2026-11-24T09:00:00Z'));
  assert.deepEqual(a.risk.factors, [{ id: 'production', points: 30 }, { id: 'history', points: 20 }, { id: 'blast-radius', points: 15 }]);
  assert.equal(a.risk.score, 65);
  assert.equal(a.risk.tier, 'high');
  assert.equal(tierFor(29, policy.tiers), 'low');
  assert.equal(tierFor(30, policy.tiers), 'medium');
});

test('a holiday is a date in the window\'s own zone', () => {
  // 16:00Z on the 26th is already the 27th in Tokyo.
  const tokyo = assessRisk(change({}), policy, { ...history, incidentRate: 0 }, directory, new Date('2026-11-26T16:00:00Z'));
  assert.equal(tokyo.risk.tier, 'high');
  assert.deepEqual(tokyo.window, { active: ['tokyo-holiday'], businessHours: false, freeze: false, holiday: true });
  const before = assessRisk(change({}), policy, { ...history, incidentRate: 0 }, directory, new Date('2026-11-26T14:59:00Z'));
  assert.equal(before.risk.tier, 'low');
});

test('freezes come from the policy and from the directory; windows never lower a tier', () => {
  const launch = assessRisk(change({}), policy, { ...history, incidentRate: 0 }, directory, new Date('2026-11-30T12:00:00Z'));
  assert.equal(launch.risk.tier, 'medium');
  assert.match(launch.windowNotes[0]!, /Launch day/);
  const yearEnd = assessRisk(change({ environment: 'production', services: ['a', 'b', 'c', 'd'] }), policy, history, directory, new Date('2026-12-21T12:00:00Z'));
  assert.equal(yearEnd.risk.tier, 'high');
  assert.deepEqual(yearEnd.window.active, ['launch-freeze']);
  assert.match(yearEnd.windowNotes[0]!, /Year end/);
});

test('a business-hours window may run over midnight, counted from the day it starts', () => {
  const r = compilePolicy({
    risk: { factors: [], tiers: { low: 0, high: 50 } },
    windows: [{ id: 'batch-night', kind: 'business-hours', timeZone: 'Europe/Berlin', days: [5], from: '22:00', until: '06:00', raiseTierTo: 'high' }],
    routes: [],
  }, { file: 'night', lineOf: () => 0 });
  assert.ok(r.ok);
  const tier = (iso: string) => assessRisk(change({}), r.policy, { ...history, incidentRate: 0 }, directory, new Date(iso)).risk.tier;
  assert.equal(tier('2026-11-27T21:30:00Z'), 'high'); // Friday 22:30 Berlin
  assert.equal(tier('2026-11-28T04:00:00Z'), 'high'); // Saturday 05:00 Berlin, still Friday's night
  assert.equal(tier('2026-11-28T05:30:00Z'), 'low'); // Saturday 06:30 Berlin
  assert.equal(tier('2026-11-26T21:30:00Z'), 'low'); // Thursday 22:30 Berlin
});
