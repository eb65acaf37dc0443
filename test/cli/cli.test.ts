// `approval-hub` as an operator runs it: exit codes 0 ok, 1 findings, 2 usage or configuration error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { main } from '../../src/cli/main.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { embeddedQueuePath } from '../../src/config/paths.ts';
import { openQueue } from '../../src/queue/index.ts';
import { PermanentError } from '../../src/queue/port.ts';
import { openStore } from '../../src/store/index.ts';
import { repoFiles, writeConfig } from '../http/helpers.ts';

const repo = join(import.meta.dirname, '..', '..');

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => { out += t; }, err: (t) => { err += t; }, env });
  return { code, out, err };
}

function hubConfig(extra = ''): string {
  return writeConfig(`store: sqlite:./data/hub.db\n${repoFiles}${extra}`);
}

describe('usage', () => {
  test('no command: usage on stderr, exit 2', async () => {
    const r = await run([]);
    assert.equal(r.code, 2);
    assert.match(r.err, /Usage: approval-hub <command>/);
  });

  test('--help lists the commands, exit 0', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['serve', 'check', 'token', 'audit', 'replay', 'policy', 'connections', 'mappings']) assert.match(r.out, new RegExp(`^  ${c} `, 'm'));
  });

  test('an unknown command: exit 2 naming it', async () => {
    const r = await run(['deploy']);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown command "deploy"/);
  });

  test('an unknown flag: exit 2 naming it', async () => {
    const r = await run(['token', 'list', '--colour'], { HUB_CONFIG: hubConfig() });
    assert.equal(r.code, 2);
    assert.match(r.err, /Unknown option '--colour'/);
  });

  test('every command has --help, exit 0', async () => {
    for (const argv of [['serve', '--help'], ['check', '--help'], ['token', '--help'], ['token', 'create', '--help'], ['audit', '--help'], ['audit', 'verify', '--help'], ['replay', '--help'], ['mappings', '--help'], ['mappings', 'try', '--help'], ['policy', '--help'], ['policy', 'simulate', '--help'], ['connections', '--help'], ['connections', 'test', '--help']]) {
      const r = await run(argv);
      assert.equal(r.code, 0, argv.join(' '));
      assert.match(r.out, /Usage:/, argv.join(' '));
    }
  });

  test('bin/approval-hub.js runs main and returns its exit code', () => {
    const r = spawnSync(process.execPath, [join(repo, 'bin', 'approval-hub.js'), 'nonsense'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command "nonsense"/);
  });
});

describe('token', () => {
  test('create prints the secret once, and that secret opens the API', async () => {
    const file = hubConfig();
    const env = { HUB_CONFIG: file };
    const created = await run(['token', 'create', '--name', 'grafana', '--roles', 'viewer,auditor', '--actor', 'ops-dashboard'], env);
    assert.equal(created.code, 0, created.err);
    const secret = /secret \(shown once, store it now\): (ah_\S+)/.exec(created.out)?.[1];
    assert.ok(secret);

    const listed = await run(['token', 'list'], env);
    assert.equal(listed.code, 0);
    assert.match(listed.out, /grafana {2}viewer,auditor {2}actor=ops-dashboard/);
    assert.ok(!listed.out.includes(secret));

    const config = loadConfig({ file, env: {} });
    const store = await openStore(config.store);
    const queue = await openQueue('embedded', { sqlitePath: ':memory:' });
    const app = await buildApp({ config, store, queue, log: createLogger({ level: 'silent' }) });
    try {
      const res = await app.inject({ url: '/api/v1/audit/verify', headers: { authorization: `Bearer ${secret}` } });
      assert.equal(res.statusCode, 200);
      assert.equal((await run(['token', 'revoke', 'grafana'], env)).code, 0);
      assert.equal((await app.inject({ url: '/api/v1/audit/verify', headers: { authorization: `Bearer ${secret}` } })).statusCode, 401);
    } finally {
      await app.close();
      await queue.close();
      await store.close();
    }
    assert.match((await run(['token', 'list'], env)).out, /grafana .* REVOKED/);
  });

  test('create refuses unknown roles and missing flags (exit 2)', async () => {
    const env = { HUB_CONFIG: hubConfig() };
    const bad = await run(['token', 'create', '--name', 'x', '--roles', 'viewer,root'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown role root/);
    assert.equal((await run(['token', 'create', '--roles', 'viewer'], env)).code, 2);
  });

  test('revoking a token that does not exist is a finding (exit 1)', async () => {
    const r = await run(['token', 'revoke', 'nobody'], { HUB_CONFIG: hubConfig() });
    assert.equal(r.code, 1);
    assert.match(r.err, /no active token with id or name "nobody"/);
  });

  test('a bad config: exit 2 with file:line: path: reason', async () => {
    const file = writeConfig('server:\n  port: many\n');
    const r = await run(['token', 'list'], { HUB_CONFIG: file });
    assert.equal(r.code, 2);
    assert.ok(r.err.includes(`${file}:2: server.port: must be integer`), r.err);
  });
});

describe('audit', () => {
  async function chainOf(n: number) {
    const file = hubConfig();
    const config = loadConfig({ file, env: {} });
    const store = await openStore(config.store);
    for (let i = 1; i <= n; i++) {
      await store.audit.append({ changeId: 'chg-1', action: 'state', actor: 'system', sourceTool: 'hub', at: `2026-11-24T10:0${i}:00.000Z`, before: null, after: `s${i}`, rationale: null, correlation: null });
    }
    await store.close();
    return { file, db: config.store.slice('sqlite:'.length) };
  }

  test('verify: an intact chain exits 0', async () => {
    const { file } = await chainOf(3);
    const r = await run(['audit', 'verify'], { HUB_CONFIG: file });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /audit chain OK: 3 entries, head seq 3/);
  });

  test('verify: an edited entry exits 1 and says which', async () => {
    const { file, db } = await chainOf(3);
    const sql = new DatabaseSync(db);
    // Someone with write access to the file gets past the append-only triggers; the hashes still tell.
    sql.exec('DROP TRIGGER transitions_no_update');
    sql.exec(`UPDATE transitions SET after = '"approved"' WHERE seq = 2`);
    sql.close();
    const r = await run(['audit', 'verify'], { HUB_CONFIG: file });
    assert.equal(r.code, 1);
    assert.match(r.out, /audit chain BROKEN/);
    assert.match(r.out, /seq 2: edited/);
  });

  test('export writes the chain with a checkpoint; verify --checkpoint catches entries deleted since', async () => {
    const { file, db } = await chainOf(3);
    const dir = join(file, '..', 'evidence');
    mkdirSync(dir);
    const out = join(dir, 'audit.jsonl');
    const exported = await run(['audit', 'export', '--out', out], { HUB_CONFIG: file });
    assert.equal(exported.code, 0, exported.err);
    assert.match(exported.out, /exported 3 entries/);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.length, 4);
    assert.equal(JSON.parse(lines[3]!).checkpoint.seq, 3);

    assert.equal((await run(['audit', 'verify', '--checkpoint', out], { HUB_CONFIG: file })).code, 0);
    assert.equal((await run(['audit', 'verify', '--export', out])).code, 0);

    const sql = new DatabaseSync(db);
    sql.exec('DROP TRIGGER transitions_no_delete');
    sql.exec('DELETE FROM transitions WHERE seq = 3');
    sql.close();
    assert.equal((await run(['audit', 'verify'], { HUB_CONFIG: file })).code, 0, 'without a checkpoint a cut-off tail looks like a shorter chain');
    const r = await run(['audit', 'verify', '--checkpoint', out], { HUB_CONFIG: file });
    assert.equal(r.code, 1);
    assert.match(r.out, /seq 3/);
  });

  test('export without --out is a usage error', async () => {
    assert.equal((await run(['audit', 'export'], { HUB_CONFIG: hubConfig() })).code, 2);
  });
});

describe('check', () => {
  test('the repository\'s own config, mappings and policy pass', async () => {
    const r = await run(['check'], { HUB_CONFIG: join(repo, 'config', 'hub.yaml') });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /OK/);
  });

  test('a connection naming a connector that does not exist: exit 2', async () => {
    const r = await run(['check'], { HUB_CONFIG: hubConfig('connections:\n  - { id: remedy-prod, connector: remedy }\n') });
    assert.equal(r.code, 2);
    assert.match(r.err, /hub\.yaml:5: connections\[0\]\.connector: "remedy" is not a registered connector \(known: generic, github, servicenow, jira, pagerduty, gitlab, azure-devops\)/);
  });

  test('a broken mapping file: exit 2 with its file:line', async () => {
    const dir = join(writeConfig(''), '..');
    mkdirSync(join(dir, 'mappings', 'servicenow'), { recursive: true });
    writeFileSync(join(dir, 'mappings', 'servicenow', 'change_request.yaml'), 'fields:\n  title: [oops\n');
    const file = writeConfig(`store: sqlite:./data/hub.db\npolicy: ${join(repo, 'config', 'policy.yaml')}\nmappingsDir: ${join(dir, 'mappings')}\n`);
    const r = await run(['check'], { HUB_CONFIG: file });
    assert.equal(r.code, 2);
    assert.match(r.err, /change_request\.yaml:\d+: /);
  });

  test('a mapping a connection names: missing is reported against hub.yaml, broken once (not again per connection)', async () => {
    const dir = join(writeConfig(''), '..');
    mkdirSync(join(dir, 'mappings', 'servicenow'), { recursive: true });
    writeFileSync(join(dir, 'mappings', 'servicenow', 'change_request.yaml'), readFileSync(join(repo, 'mappings', 'servicenow', 'change_request.yaml'), 'utf8').replace(/^  state:/m, '  stat:'));
    writeFileSync(join(dir, 'mappings', 'servicenow', 'sysapproval_approver.yaml'), readFileSync(join(repo, 'mappings', 'servicenow', 'sysapproval_approver.yaml'), 'utf8'));
    const file = writeConfig(`store: sqlite:./data/hub.db\npolicy: ${join(repo, 'config', 'policy.yaml')}\nmappingsDir: ${join(dir, 'mappings')}\nconnections:\n  - { id: sn, connector: servicenow, webhook: { secret: "\${env:S}" } }\n  - { id: sn2, connector: servicenow, webhook: { secret: "\${env:S}" }, mappings: { change_request: servicenow/nope.yaml } }\n`);
    const r = await run(['check'], { HUB_CONFIG: file, S: 's' });
    assert.equal(r.code, 2);
    assert.equal(r.err.match(/unknown canonical field "stat"/g)?.length, 1, r.err);
    assert.match(r.err, /hub\.yaml: connections\[1\] \(sn2\) mapping .*servicenow\/nope\.yaml: no such file \(mapping files are relative to mappingsDir /);
    assert.doesNotMatch(r.err, /:0: /);
  });

  test('the shipped team and region overlays load over the central policy', async () => {
    const overlays = ['team-payments.yaml', 'region-eu.yaml'].map((f) => join(repo, 'config', 'policy-overlays', f));
    const r = await run(['check'], { HUB_CONFIG: hubConfig(`policyOverlays: [${overlays.map((o) => JSON.stringify(o)).join(', ')}]\n`) });
    assert.equal(r.code, 0, r.err);
  });

  test('an overlay that loosens the central policy: exit 2 naming the overlay file', async () => {
    const loose = join(repo, 'config', 'policy-cases', 'broken', 'loosen-sod.yaml');
    const r = await run(['check'], { HUB_CONFIG: hubConfig(`policyOverlays: [${JSON.stringify(loose)}]\n`) });
    assert.equal(r.code, 2);
    assert.match(r.err, /loosen-sod\.yaml:\d+: /);
    assert.match(r.err, /separationOfDuties/);
  });

  test('a policy naming a group nobody in the directory has: exit 2', async () => {
    const dir = join(writeConfig(''), '..');
    writeFileSync(join(dir, 'policy.yaml'), 'risk:\n  tiers: { low: 0 }\nroutes:\n  - id: dba\n    when: "true"\n    steps: [{ name: DBA, approvers: { group: dbaa } }]\n');
    writeFileSync(join(dir, 'directory.yaml'), 'people: []\n');
    const file = writeConfig(`store: sqlite:./data/hub.db\npolicy: ${join(dir, 'policy.yaml')}\nmappingsDir: ${join(repo, 'mappings')}\n`);
    const r = await run(['check'], { HUB_CONFIG: file });
    assert.equal(r.code, 2);
    assert.match(r.err, /dbaa/);
  });

  test('a broken policy: exit 2 with its file:line', async () => {
    const dir = join(writeConfig(''), '..');
    writeFileSync(join(dir, 'policy.yaml'), 'routes:\n  - id: dba\n    when: "change.enviroment == \'production\'"\n    steps: [{ name: DBA, approvers: { group: dba } }]\n');
    const file = writeConfig(`store: sqlite:./data/hub.db\npolicy: ${join(dir, 'policy.yaml')}\nmappingsDir: ${join(repo, 'mappings')}\n`);
    const r = await run(['check'], { HUB_CONFIG: file });
    assert.equal(r.code, 2);
    assert.match(r.err, /policy\.yaml:3: routes\[0\]\.when: /);
  });
});

test('check: a missing directory file is refused, as the hub would at start', async () => {
  const r = await run(['check'], { HUB_CONFIG: hubConfig('directory: ./no-such-directory.yaml\n') });
  assert.equal(r.code, 2);
  assert.match(r.err, /no-such-directory\.yaml: cannot read the directory file \(ENOENT\); hub\.yaml's directory names it/);
});

test('check: a hub.yaml in a folder without policy and mappings says which settings name them', async () => {
  const file = writeConfig('store: sqlite:./data/hub.db\n');
  const r = await run(['check'], { HUB_CONFIG: file });
  assert.equal(r.code, 2);
  assert.match(r.err, /mappings: cannot read the mappings folder \(ENOENT\) \(mappingsDir in .*hub\.yaml, relative to its folder; default \.\/mappings\)/);
  assert.match(r.err, /policy\.yaml: file not found \(policy in .*hub\.yaml, relative to its folder; default \.\/policy\.yaml\)/);
  assert.doesNotMatch(r.err, /:0: /);
});

describe('policy', () => {
  test('policy test runs the repository\'s policy cases, exit 0 when they all pass', async () => {
    const r = await run(['policy', 'test', join(repo, 'config', 'policy-cases')]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\d+ passed, 0 failed/);
  });

  test('policy test without a folder, and simulate without --changes, are usage errors', async () => {
    assert.equal((await run(['policy', 'test'])).code, 2);
    const r = await run(['policy', 'simulate']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--changes FILE\.jsonl is required/);
  });
});

describe('mappings and replay', () => {
  test('mappings try prints the canonical change a ServiceNow record maps to', async () => {
    const r = await run(['mappings', 'try', join(repo, 'mappings', 'servicenow', 'change_request.yaml'), join(repo, 'connectors', 'servicenow', 'fixtures', 'responses', 'change_request.json')]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(JSON.parse(r.out).title, 'Deploy payments-api 2.14.0 to production');
  });

  test('mappings try without both files is a usage error', async () => {
    assert.equal((await run(['mappings', 'try', 'only-one.yaml'])).code, 2);
  });

  test('replay --list shows a dead letter and replay puts it back on the queue', async () => {
    const file = hubConfig();
    const queuePath = embeddedQueuePath(loadConfig({ file, env: {} }));
    mkdirSync(join(queuePath, '..'), { recursive: true });
    const queue = await openQueue('embedded', { sqlitePath: queuePath });
    try {
      queue.process('outbound', async () => { throw new PermanentError('ServiceNow answered 400: assignment group missing'); });
      await queue.enqueue({ kind: 'outbound', id: 'job-snow-1', payload: { intent: 'open-record' } });
      while ((await queue.deadLetters()).length === 0) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await queue.close();
    }
    const env = { HUB_CONFIG: file };
    const listed = await run(['replay', '--list'], env);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /outbound .*ServiceNow answered 400/);
    const mistyped = await run(['replay', 'job-snow-1x'], env);
    assert.equal(mistyped.code, 1);
    assert.match(mistyped.err, /not dead letters \(nothing to replay\): job-snow-1x; `approval-hub replay --list` shows the ids/);
    const replayed = await run(['replay'], env);
    assert.equal(replayed.code, 0, replayed.err);
    assert.match(replayed.out, /re-queued 1 dead letter$/m);
    assert.match((await run(['replay', '--list'], env)).out, /no dead letters/);
  });

  test('connections test through main: no connections configured is nothing to fail, exit 0', async () => {
    const r = await run(['connections', 'test'], { HUB_CONFIG: hubConfig() });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /no connections configured/);
  });

  test('replay with nothing dead-lettered re-queues nothing, exit 0', async () => {
    const r = await run(['replay'], { HUB_CONFIG: hubConfig() });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /re-queued 0 dead letters/);
  });
});
