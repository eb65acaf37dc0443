// The protocol of the hub's helper threads (src/threads.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startHubThread } from '../../src/threads.ts';
import { repoRoot } from '../support/hub-process.ts';

const entry = new URL('./threads/echo-entry.ts', import.meta.url);
const log = { info() {}, debug() {}, warn() {}, error() {} };

describe('helper threads', () => {
  it('answer requests by id, pass a refusal back as an error, and end on stop', async () => {
    const t = await startHubThread(entry, 'echo', { name: 'test', log });
    const [a, b] = await Promise.all([t.ask<{ heard: string }>({ say: 'one' }), t.ask<{ heard: string }>({ say: 'two' })]);
    assert.deepEqual([a, b], [{ heard: 'one' }, { heard: 'two' }]);
    await assert.rejects(t.ask({ say: 'fail' }), /cannot do that/);
    await t.stop();
    await assert.rejects(t.ask({ say: 'late' }), /the test thread has stopped/);
  });

  it('say why they could not start', async () => {
    await assert.rejects(startHubThread(entry, 'refuse-start', { name: 'test', log }), /the store cannot be opened/);
  });

  it('stop the process when they crash, and the stop reports the failure', async () => {
    const child = spawn(join(repoRoot, 'node_modules', '.bin', 'node'), [join(import.meta.dirname, 'threads', 'crash-host.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await new Promise((r) => child.once('exit', r));
    assert.match(out, /stop failed: the test thread failed: boom; logged: the test thread failed; stopping the hub/);
  });
});
