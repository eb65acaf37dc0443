import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, modifiedZ, detectAnomaly } from '../../../src/core/anomaly.ts';
import { parseChangeInput } from '../../../src/core/change-schema.ts';

const settings = { threshold: 3.5, minSamples: 8, frequencyRatio: 3 };
const at = new Date('2026-11-24T10:00:00Z');

function change(size: number | null) {
  const r = parseChangeInput({ title: 't', environment: 'staging', requester: 'a@x.example', ...(size === null ? {} : { size: { linesChanged: size, filesChanged: 1 } }) }, { id: 'c', now: at });
  assert.ok(r.ok);
  return r.change;
}

test('the modified z-score uses median and MAD, so one outlier in the history does not hide the next', () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  const samples = [100, 110, 90, 105, 95, 100, 98, 102, 20_000];
  assert.ok(modifiedZ(5_000, samples) > 3.5);
  assert.ok(Math.abs(modifiedZ(104, samples)) < 3.5);
});

test('identical history falls back to the mean absolute deviation, then to any difference', () => {
  assert.equal(modifiedZ(3, [3, 3, 3, 3]), 0);
  assert.equal(modifiedZ(4, [3, 3, 3, 3]), Infinity);
  assert.ok(modifiedZ(9, [3, 3, 3, 3, 3, 3, 3, 5]) > 3.5);
});

test('size, time of day and frequency are each flagged with a reason', () => {
  const baseline = { sizes: [100, 120, 80, 90, 110, 95, 105, 100], hoursOfDay: [9, 10, 11, 10, 9, 14, 15, 10], weeklyCounts: [2, 3, 2, 4, 3, 2, 3, 2] };
  const history = { incidentRate: 0, similarCount: 0, teamChangesLast7d: 15, medianTeamChangesPerWeek: 2.5, baseline };
  const r = detectAnomaly(change(3000), history, new Date('2026-11-24T03:00:00Z'), 'UTC', settings);
  assert.equal(r.flagged, true);
  assert.deepEqual(r.reasons.map((x) => x.split(':')[0]), ['size', 'time', 'frequency']);
  assert.match(r.reasons[1]!, /planned for 03:00 UTC/);
});

test('hours wrap around midnight: 23:00 is usual for a team that deploys around midnight', () => {
  const baseline = { sizes: [], hoursOfDay: [23, 0, 1, 23, 0, 0, 1, 23], weeklyCounts: [] };
  const history = { incidentRate: 0, similarCount: 0, teamChangesLast7d: 0, medianTeamChangesPerWeek: 0, baseline };
  assert.equal(detectAnomaly(change(null), history, new Date('2026-11-24T23:00:00Z'), 'UTC', settings).flagged, false);
  assert.equal(detectAnomaly(change(null), history, new Date('2026-11-24T12:00:00Z'), 'UTC', settings).flagged, true);
});

test('too little history flags nothing', () => {
  const baseline = { sizes: [100, 100], hoursOfDay: [9], weeklyCounts: [1] };
  const history = { incidentRate: 0, similarCount: 0, teamChangesLast7d: 2, medianTeamChangesPerWeek: 1, baseline };
  assert.deepEqual(detectAnomaly(change(90_000), history, at, 'UTC', settings), { flagged: false, reasons: [] });
});
