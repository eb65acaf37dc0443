// The hub as `npm start` runs it (node src/server.ts): a real process on a free loopback port that
// answers /healthz and stops cleanly on SIGTERM; a bad config stops it at once with exit code 2.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoFiles, writeConfig } from './helpers.ts';

const server = join(import.meta.dirname, '..', '..', 'src', 'server.ts');

function start(configFile: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [server], {
    env: { PATH: process.env.PATH ?? '', HUB_CONFIG: configFile, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 30 s:\n${out}\n${err}`)), 30_000);
    child.stdout.on('data', () => {
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)".*"msg":"approval-hub listening"/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    void exited.then(([code]) => { clearTimeout(timer); reject(new Error(`exited ${code} before listening:\n${out}\n${err}`)); });
  });
  // A hub that exits before listening (bad config) is what some tests expect: not an unhandled rejection.
  listening.catch(() => {});
  return { child, listening, exited, out: () => out, err: () => err };
}

test('a hub process answers /healthz and /readyz, then stops cleanly on SIGTERM', async () => {
  const file = writeConfig(`store: sqlite:./data/hub.db\n${repoFiles}`);
  const hub = start(file);
  try {
    const url = await hub.listening;
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    assert.ok(existsSync(join(file, '..', 'data', 'hub.db')), 'data lives where the config says');

    hub.child.kill('SIGTERM');
    const [code, signal] = await hub.exited;
    assert.equal(signal, null);
    assert.equal(code, 0, hub.err());
    assert.match(hub.out(), /"msg":"shutting down: finishing in-flight requests and jobs"/);
    assert.match(hub.out(), /"msg":"stopped"/);
    await assert.rejects(fetch(`${url}/healthz`), 'the port is closed');
  } finally {
    hub.child.kill('SIGKILL');
  }
});

test('a bad config stops the hub with exit code 2 and file:line: path: reason, no stack trace', async () => {
  const file = writeConfig('server:\n  port: 3000\nconnections:\n  - id: servicenow-prod\n    connector: servicenow\n    webhook:\n      secret: plain-text-secret\n');
  const hub = start(file);
  const [code] = await hub.exited;
  assert.equal(code, 2);
  assert.match(hub.err(), /hub\.yaml:7: connections\[0\]\.webhook\.secret: a secret must come from/);
  assert.ok(!/\n\s+at /.test(hub.err()), `no stack trace:\n${hub.err()}`);
  assert.ok(!hub.err().includes('plain-text-secret'));
});

test('a connection naming an unknown connector stops the hub with exit code 2 and its line, before the store is created', async () => {
  const file = writeConfig(`store: sqlite:./data/hub.db\n${repoFiles}connections:\n  - id: bb\n    connector: bitbucket\n`);
  const hub = start(file);
  const [code] = await hub.exited;
  assert.equal(code, 2, hub.err());
  assert.match(hub.err(), /hub\.yaml:6: connections\[0\]\.connector: "bitbucket" is not a registered connector \(known: /);
  assert.ok(!existsSync(join(file, '..', 'data')), 'no store file was opened or created');
  assert.ok(!/\n\s+at /.test(hub.err()), `no stack trace:\n${hub.err()}`);
});

test('a broken policy file stops the hub with exit code 2 before the port opens, naming file and line', async () => {
  const file = writeConfig(`store: sqlite:./data/hub.db\npolicy: ./policy.yaml\ndirectory: ./directory.yaml\nmappingsDir: ${join(import.meta.dirname, '..', '..', 'mappings')}\n`, {
    'policy.yaml': "version: 1\nrisk:\n  factors:\n    - { id: production, when: \"change.environment == \", points: 30 }\n  tiers: { low: 0, medium: 30, high: 60 }\nroutes: []\n",
    'directory.yaml': 'people: []\n',
  });
  const hub = start(file);
  const [code] = await hub.exited;
  assert.equal(code, 2, hub.err());
  assert.match(hub.err(), /policy\.yaml:4: risk\.factors\[0\]\.when/);
  assert.ok(!/approval-hub listening|Server listening/.test(hub.out()), 'it never listened');
  assert.ok(!/\n\s+at /.test(hub.err()), `no stack trace:\n${hub.err()}`);
});

test('a policy overlay that loosens the central policy stops the hub with exit code 2, naming the overlay', async () => {
  const repo = join(import.meta.dirname, '..', '..');
  const loose = join(repo, 'config', 'policy-cases', 'broken', 'loosen-sod.yaml');
  const file = writeConfig(`store: sqlite:./data/hub.db\n${repoFiles}policyOverlays: [${JSON.stringify(loose)}]\n`);
  const hub = start(file);
  const [code] = await hub.exited;
  assert.equal(code, 2, hub.err());
  assert.match(hub.err(), /loosen-sod\.yaml:\d+: .*separationOfDuties/);
});
