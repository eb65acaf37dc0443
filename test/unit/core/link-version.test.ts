import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareVersions } from '../../../src/core/link-version.ts';

test('ServiceNow sys_mod_count versions compare as numbers, not as text', () => {
  assert.equal(compareVersions('10', '9'), 'newer');
  assert.equal(compareVersions('9', '10'), 'older');
  assert.equal(compareVersions('12', '12'), 'same');
});

test('Jira timestamps compare as instants, offsets without a colon included', () => {
  assert.equal(compareVersions('2024-11-24T14:20:00.118+0100', '2024-11-24T14:19:59.000+0100'), 'newer');
  assert.equal(compareVersions('2024-11-24T13:20:00.118+0000', '2024-11-24T14:20:00.500+0100'), 'older');
  // The same instant written in two zones is the same version.
  assert.equal(compareVersions('2024-11-24T13:20:00.000+0000', '2024-11-24T14:20:00.000+0100'), 'same');
});

test('ISO-8601 Z times (PagerDuty occurred_at) and zone-less ServiceNow times are ordered', () => {
  assert.equal(compareVersions('2026-11-24T10:00:01.000Z', '2026-11-24T10:00:00.999Z'), 'newer');
  assert.equal(compareVersions('2026-11-24 09:59:59', '2026-11-24T10:00:00Z'), 'older');
});

test('GitLab webhook times ("YYYY-MM-DD HH:MM:SS +0000") are ordered too', () => {
  assert.equal(compareVersions('2024-11-24 13:12:28 +0000', '2024-11-24 13:12:27 +0000'), 'newer');
  assert.equal(compareVersions('2024-11-24 14:12:27 +0100', '2024-11-24 13:12:27 +0000'), 'same');
});

test('anything is newer than nothing seen; a missing or opaque version cannot be ordered', () => {
  assert.equal(compareVersions('3', null), 'newer');
  assert.equal(compareVersions(null, '3'), 'unordered');
  assert.equal(compareVersions('', '3'), 'unordered');
  assert.equal(compareVersions('W/"abc"', 'W/"abd"'), 'unordered');
  assert.equal(compareVersions('7', '2026-11-24T10:00:00Z'), 'unordered');
  assert.equal(compareVersions('2026-13-45T99:00:00Z', '2026-11-24T10:00:00Z'), 'unordered');
});
