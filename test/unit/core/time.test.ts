import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, businessMinutesBetween, addBusinessMinutes, localTime, zonedInstant, formatMinutes } from '../../../src/core/time.ts';
import type { Person } from '../../../src/core/types.ts';

function person(timeZone: string, start = '09:00', end = '17:00'): Person {
  return { id: 'p@x.example', name: 'P', timeZone, workingHours: { start, end, days: [1, 2, 3, 4, 5] }, manager: null, groups: [], roles: [], active: true, outOfOffice: null };
}

test('durations read the way the policy writes them', () => {
  assert.equal(parseDuration('90m'), 90);
  assert.equal(parseDuration('4h'), 240);
  assert.equal(parseDuration('1h30m'), 90);
  assert.equal(parseDuration('5d'), 7200);
  assert.equal(parseDuration('1w'), 10080);
  assert.equal(parseDuration('soon'), null);
  assert.equal(parseDuration('4'), null);
  assert.equal(formatMinutes(4320), '3d');
  assert.equal(formatMinutes(240), '4h');
  assert.equal(formatMinutes(90), '1h30m');
});

test('local time follows the zone, including daylight saving', () => {
  assert.deepEqual(localTime(new Date('2026-07-01T12:00:00Z'), 'America/New_York'), { date: '2026-07-01', weekday: 3, minuteOfDay: 8 * 60 });
  assert.deepEqual(localTime(new Date('2026-12-01T12:00:00Z'), 'America/New_York'), { date: '2026-12-01', weekday: 2, minuteOfDay: 7 * 60 });
  assert.deepEqual(localTime(new Date('2026-11-24T23:30:00Z'), 'Asia/Seoul'), { date: '2026-11-25', weekday: 3, minuteOfDay: 8 * 60 + 30 });
  assert.equal(zonedInstant('2026-03-30', 9 * 60, 'Europe/London').toISOString(), '2026-03-30T08:00:00.000Z');
  assert.equal(zonedInstant('2026-03-27', 9 * 60, 'Europe/London').toISOString(), '2026-03-27T09:00:00.000Z');
});

test('business minutes skip nights, weekends and holidays in the person\'s own zone', () => {
  const london = person('Europe/London');
  // Friday 16:00 → Monday 10:00 London: 1h Friday + 1h Monday.
  assert.equal(businessMinutesBetween(london, new Date('2026-11-27T16:00:00Z'), new Date('2026-11-30T10:00:00Z'), []), 120);
  // The same span with Monday a holiday: only Friday's hour.
  assert.equal(businessMinutesBetween(london, new Date('2026-11-27T16:00:00Z'), new Date('2026-11-30T10:00:00Z'), ['2026-11-30']), 60);
  // Seoul's working day is London's night.
  const seoul = person('Asia/Seoul');
  assert.equal(businessMinutesBetween(seoul, new Date('2026-11-24T00:00:00Z'), new Date('2026-11-24T09:00:00Z'), []), 8 * 60);
});

test('adding business minutes lands inside working hours', () => {
  const ny = person('America/New_York');
  // Opened Tuesday 15:00 NY (20:00Z); 4 business hours → 2h Tuesday + 2h Wednesday = Wednesday 11:00 NY.
  assert.equal(addBusinessMinutes(ny, new Date('2026-11-24T20:00:00Z'), 240, []).toISOString(), '2026-11-25T16:00:00.000Z');
  // Someone without working hours (an on-call rotation) counts every minute.
  const always: Person = { ...ny, workingHours: null };
  assert.equal(addBusinessMinutes(always, new Date('2026-11-24T20:00:00Z'), 240, []).toISOString(), '2026-11-25T00:00:00.000Z');
});
