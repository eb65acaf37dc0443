// The per-file write lock shared by the hub's threads (src/sqlite/write-lock.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { writeLockFor } from '../../../src/sqlite/write-lock.ts';

function holder(path: string, holdMs: number): { worker: Worker; held: Promise<void>; released: Promise<number> } {
  const worker = new Worker(new URL('./write-lock-holder.ts', import.meta.url), { workerData: { path, holdMs } });
  let held!: () => void;
  let released!: (at: number) => void;
  const out = { worker, held: new Promise<void>((r) => (held = r)), released: new Promise<number>((r) => (released = r)) };
  worker.on('message', (m: string) => (m === 'held' ? held() : released(performance.now())));
  return out;
}

describe('SQLite write lock between threads', () => {
  it('makes a writer on this thread wait while a thread started after it holds the same file', async () => {
    const path = join(tmpdir(), `lock-${randomUUID()}.db`);
    const lock = writeLockFor(path); // registered before the thread starts, so the thread inherits it
    const h = holder(path, 300);
    await h.held;
    const t0 = performance.now();
    const ranAt = lock.run(() => performance.now());
    assert.ok(ranAt - t0 >= 250, `waited ${Math.round(ranAt - t0)} ms for the other thread`);
    assert.ok(ranAt >= (await h.released) - 50, 'ran once the other thread let go');
    await h.worker.terminate();
  });

  it('keeps different files apart, and a second writeLockFor of one file is the same lock', async () => {
    const a = join(tmpdir(), `lock-${randomUUID()}.db`);
    const b = join(tmpdir(), `lock-${randomUUID()}.db`);
    writeLockFor(a);
    const lockB = writeLockFor(b);
    const h = holder(a, 300);
    await h.held;
    const t0 = performance.now();
    lockB.run(() => undefined);
    assert.ok(performance.now() - t0 < 100, 'another file is not held up');
    const t1 = performance.now();
    writeLockFor(a).run(() => undefined);
    assert.ok(performance.now() - t1 >= 150, 'the same file waits, whichever handle asks');
    await h.worker.terminate();
  });

  it('lets a transaction run inside another on the same thread (nested run does not deadlock)', () => {
    const lock = writeLockFor(join(tmpdir(), `lock-${randomUUID()}.db`));
    assert.equal(lock.run(() => lock.run(() => 42)), 42);
  });
});
