import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChangeInput } from '../../../src/core/change-schema.ts';

const now = new Date('2026-11-24T09:00:00Z');

test('a partial change is filled with defaults', () => {
  const r = parseChangeInput({ title: 'Bump', environment: 'staging', requester: 'a@x.example' }, { id: 'chg-1', now });
  assert.ok(r.ok);
  assert.equal(r.change.id, 'chg-1');
  assert.equal(r.change.type, 'normal');
  assert.equal(r.change.state, 'draft');
  assert.deepEqual(r.change.services, []);
  assert.deepEqual(r.change.rollback, { plan: null, complexity: null });
  assert.equal(r.change.createdAt, '2026-11-24T09:00:00.000Z');
});

test('every problem is named by its path', () => {
  const r = parseChangeInput({
    title: '', environment: 'production', requester: 'a@x.example', type: 'urgent', services: ['a', 3],
    plannedWindow: { start: 'tomorrow', end: '2026-11-25T10:00:00Z' }, incident: { id: 'PD-1', source: 'pagerduty', status: 'open', title: 'x' }, colour: 'red',
  }, { id: 'c', now });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map((e) => e.path), ['title', 'type', 'services[1]', 'plannedWindow.start', 'incident.status', 'colour']);
  assert.match(r.errors.find((e) => e.path === 'colour')!.message, /unknown field/);
});

test('a non-object is refused as a whole', () => {
  const r = parseChangeInput('change please', { id: 'c', now });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors, [{ path: '(change)', message: 'expected object, got string' }]);
});
