import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { timeOrderedId } from '../../src/time-ordered-id.ts';

const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const millisOf = (id: string) => parseInt(id.replaceAll('-', '').slice(0, 12), 16);

describe('time-ordered ids (UUIDv7)', () => {
  it('are UUIDs of version 7 and the RFC 9562 variant, carrying the time they were made', () => {
    const before = Date.now();
    const id = timeOrderedId();
    const after = Date.now();
    assert.match(id, uuidV7);
    assert.ok(millisOf(id) >= before && millisOf(id) <= after + 1, `${millisOf(id)} within ${before}..${after}`);
  });

  it('sort in the order they were made, many within one millisecond and across milliseconds', () => {
    const t = Date.now() + 10_000; // later than any id made before, so the counter starts afresh
    const ids = [...Array.from({ length: 5_000 }, () => timeOrderedId(t)), ...Array.from({ length: 10 }, () => timeOrderedId(t + 5_000))];
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.match(id, uuidV7);
    // 5 000 in one millisecond overflow the 12-bit counter: the time moves on rather than repeating.
    assert.ok(millisOf(ids[4_999]!) > t && millisOf(ids[4_999]!) <= t + 3);
  });

  it('do not go back when the clock does', () => {
    const t = Date.now() + 20_000;
    const a = timeOrderedId(t);
    const b = timeOrderedId(t - 1_000);
    assert.ok(b > a);
  });

  it('differ in their random bits from one to the next', () => {
    const [a, b] = [timeOrderedId(), timeOrderedId()];
    assert.notEqual(a!.slice(19), b!.slice(19));
  });
});
