// A hub killed with -9 leaves its running jobs leased. Restarted (or another process on the same file),
// the embedded queue takes them up within seconds, because a lease names its process and that process is
// gone, instead of after the lease (60 s here, 30 s by default) — while a living holder keeps its jobs.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { openQueue } from '../../src/queue/index.ts';
import { repoRoot } from '../support/hub-process.ts';

const tuning = { leaseMs: 60_000, pollMs: 50 };

async function holder(t: TestContext, path: string): Promise<ChildProcess> {
  const child = spawn(join(repoRoot, 'node_modules', '.bin', 'node'), [join(import.meta.dirname, 'lease-holder.ts'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => b.toString().includes('running') && resolve());
    child.once('exit', (code) => reject(new Error(`the lease holder exited (${code})`)));
  });
  return child;
}

async function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'hub-queue-owner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'queue.db');
  const queue = await openQueue('embedded', { sqlitePath: path, tuning });
  t.after(() => queue.close());
  await queue.enqueue({ kind: 'outbound', id: 'held-job', key: 'change-1', payload: {} });
  await queue.enqueue({ kind: 'outbound', id: 'next-of-key', key: 'change-1', payload: {} });
  return { path, queue };
}

test('the jobs of a process killed with -9 are taken up within seconds, not after their lease', async (t) => {
  const { path, queue } = await setup(t);
  const child = await holder(t, path);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const handled: string[] = [];
  const t0 = Date.now();
  queue.process('outbound', async (job) => void handled.push(job.id));
  while (handled.length < 2 && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(handled, ['held-job', 'next-of-key'], 'the interrupted job runs again, then the next of its key');
  assert.ok(Date.now() - t0 < 10_000, `taken up after ${Date.now() - t0} ms (lease ${tuning.leaseMs} ms)`);
  assert.equal((await queue.depth()).outbound.waiting + (await queue.depth()).outbound.running, 0);
});

test('a job leased by a process that is still running is left to it', async (t) => {
  const { path, queue } = await setup(t);
  await holder(t, path);
  const handled: string[] = [];
  queue.process('outbound', async (job) => void handled.push(job.id));
  await new Promise((r) => setTimeout(r, 5_000)); // more than two looks at the owners
  assert.deepEqual(handled, [], 'neither the held job nor the one behind it in its key');
  assert.equal((await queue.depth()).outbound.running, 1);
});
