// The config loader: what an ITSM admin sees when hub.yaml is right, and when it is wrong.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig } from '../../../src/config/load.ts';
import { isSecret } from '../../../src/config/secret.ts';
import type { Secret } from '../../../src/sdk/index.ts';

function configFile(yaml: string, files: Record<string, string> = {}): { file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hub-config-test-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const file = join(dir, 'hub.yaml');
  writeFileSync(file, yaml);
  return { file, dir };
}

function refused(yaml: string, env: NodeJS.ProcessEnv = {}, from: 'file' | 'environment' = 'file'): ConfigError {
  const { file } = configFile(yaml);
  try {
    loadConfig({ file, env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.file, from === 'file' ? file : 'environment', 'names where the value came from');
    return err;
  }
  assert.fail('the configuration was accepted');
}

const snow = (extra: string) => `
connections:
  - id: servicenow-prod
    connector: servicenow
    baseUrl: https://acme.service-now.com
${extra}`;

describe('defaults', () => {
  test('the shipped config/hub.yaml is the embedded default on port 3000 with data under ./data', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.file, DEFAULT_CONFIG_FILE);
    assert.equal(c.server.port, 3000);
    assert.equal(c.server.host, '127.0.0.1');
    assert.equal(c.server.bodyLimitBytes, 1024 * 1024);
    assert.equal(c.store, `sqlite:${join(DEFAULT_CONFIG_FILE, '..', '..', 'data', 'hub.db')}`);
    assert.equal(c.queue, 'embedded');
    assert.equal(c.policy, join(DEFAULT_CONFIG_FILE, '..', 'policy.yaml'));
    assert.equal(c.mappingsDir, join(DEFAULT_CONFIG_FILE, '..', '..', 'mappings'));
    assert.deepEqual(c.connections, []);
    assert.equal(c.directory, join(DEFAULT_CONFIG_FILE, '..', 'directory.yaml'));
    assert.deepEqual(c.conflicts, { rule: 'reject-wins' });
    assert.deepEqual(c.ingest, { maxBacklog: 100_000 });
  });

  test('ingest.maxBacklog can be set, and must be a positive whole number', () => {
    const { file } = configFile('ingest: { maxBacklog: 5000 }\n');
    assert.deepEqual(loadConfig({ file, env: {} }).ingest, { maxBacklog: 5000 });
    for (const bad of ['0', '-1', '2.5', '"many"']) {
      const err = refused(`ingest: { maxBacklog: ${bad} }\n`);
      assert.equal(err.path, 'ingest.maxBacklog', bad);
      assert.equal(err.line, 1);
    }
    assert.equal(refused('ingest: { maxbacklog: 10 }\n').path, 'ingest.maxbacklog');
  });

  test('directory and conflicts.rule can be set', () => {
    const { file, dir } = configFile('directory: people/directory.yaml\nconflicts: { rule: manual }\n');
    const c = loadConfig({ file, env: {} });
    assert.equal(c.directory, join(dir, 'people', 'directory.yaml'));
    assert.deepEqual(c.conflicts, { rule: 'manual' });
    const err = refused('conflicts: { rule: newest-wins }\n');
    assert.equal(err.path, 'conflicts.rule');
    assert.match(err.reason, /must be one of reject-wins, manual/);
  });

  test('an empty file takes every default, relative to its own folder', () => {
    const { file, dir } = configFile('');
    const c = loadConfig({ file, env: {} });
    assert.equal(c.store, `sqlite:${join(dir, 'data', 'hub.db')}`);
    assert.equal(c.log.level, 'info');
    assert.equal(c.publicUrl, 'http://localhost:3000');
  });

  test('the result is frozen all the way down', () => {
    const { file } = configFile(snow('    options: { assignmentGroup: ops }'));
    const c = loadConfig({ file, env: {} });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.server) && Object.isFrozen(c.connections[0]) && Object.isFrozen(c.connections[0]!.options));
    assert.throws(() => { (c.server as { port: number }).port = 1; }, TypeError);
  });

  test('HUB_CONFIG names another file', () => {
    const { file } = configFile('server: { port: 4010 }\n');
    assert.equal(loadConfig({ env: { HUB_CONFIG: file } }).server.port, 4010);
  });
});

describe('environment overrides', () => {
  test('PORT, MONGODB_URI, REDIS_URL, LOG_LEVEL and HOST override the file', () => {
    const { file } = configFile('server: { port: 3000 }\nstore: sqlite:./hub.db\nqueue: embedded\nlog: { level: info }\n');
    const c = loadConfig({ file, env: { PORT: '8080', MONGODB_URI: 'mongodb://db.internal:27017/hub', REDIS_URL: 'redis://cache:6379', LOG_LEVEL: 'warn', HOST: '0.0.0.0' } });
    assert.equal(c.server.port, 8080);
    assert.equal(c.store, 'mongodb://db.internal:27017/hub');
    assert.equal(c.queue, 'redis://cache:6379');
    assert.equal(c.log.level, 'warn');
    assert.equal(c.server.host, '0.0.0.0');
    assert.equal(c.publicUrl, 'http://localhost:8080', 'the default public URL follows the port in force');
  });

  test('a bad override is refused naming the variable', () => {
    const err = refused('server: { port: 3000 }\n', { PORT: 'eighty', LOG_LEVEL: 'loud' }, 'environment');
    const byPath = Object.fromEntries(err.problems.map((p) => [p.path, p]));
    assert.equal(byPath.PORT?.file, 'environment');
    assert.match(byPath.PORT!.reason, /port number/);
    assert.match(byPath.LOG_LEVEL!.reason, /one of fatal, error, warn, info/);
  });
});

describe('refused files name the file, the path inside it, the line and the reason', () => {
  test('a missing required field', () => {
    const err = refused('server: { port: 3000 }\nconnections:\n  - id: jira\n    baseUrl: https://acme.atlassian.net\n');
    assert.equal(err.path, 'connections[0].connector');
    assert.equal(err.line, 3);
    assert.equal(err.reason, 'is required');
    assert.match(err.message, /hub\.yaml:3: connections\[0\]\.connector: is required/);
  });

  test('a setting the hub does not know', () => {
    const err = refused('server:\n  port: 3000\n  prot: 1\n');
    assert.equal(err.path, 'server.prot');
    assert.equal(err.line, 3);
    assert.equal(err.reason, 'is not a known setting');
  });

  test('a value of the wrong type', () => {
    const err = refused('server:\n  port: "three thousand"\n');
    assert.equal(err.path, 'server.port');
    assert.equal(err.line, 2);
    assert.equal(err.reason, 'must be integer');
  });

  test('a connection id that cannot appear in a URL', () => {
    const err = refused('connections:\n  - id: ServiceNow Prod\n    connector: servicenow\n');
    assert.equal(err.path, 'connections[0].id');
    assert.equal(err.line, 2);
    assert.match(err.reason, /lower-case letters, digits and dashes/);
  });

  test('a store URL of an unknown kind', () => {
    const err = refused('store: postgres://db/hub\n');
    assert.equal(err.path, 'store');
    assert.equal(err.line, 1);
    assert.match(err.reason, /sqlite:<path>.*mongodb/);
  });

  test('a connection naming a connector that is not registered', () => {
    const err = refused('connections:\n  - id: bb\n    connector: bitbucket\n');
    assert.equal(err.path, 'connections[0].connector');
    assert.equal(err.line, 3);
    assert.equal(err.reason, '"bitbucket" is not a registered connector (known: generic, github, servicenow, jira, pagerduty, gitlab, azure-devops)');
  });

  test('a webhook block that could never verify a delivery, naming what to give', () => {
    const ado = refused('connections:\n  - id: ado\n    connector: azure-devops\n    webhook: { secret: "${env:S}" }\n', { S: 'x' });
    assert.equal(ado.path, 'connections[0].webhook');
    assert.equal(ado.line, 4);
    assert.match(ado.reason, /webhook\.username and webhook\.password .* or webhook\.header and webhook\.secret/);
    const generic = refused('connections:\n  - id: tool\n    connector: generic\n    webhook: { toleranceSeconds: 60 }\n');
    assert.equal(generic.path, 'connections[0].webhook');
    assert.match(generic.reason, /give the webhook secret/);
    const sn = refused('connections:\n  - id: sn\n    connector: servicenow\n    webhook: { username: hub }\n');
    assert.match(sn.reason, /webhook\.secret .* or webhook\.username and webhook\.password/);
    // Either of a connector's schemes is enough, and a connection without a webhook block receives none.
    const { file } = configFile('connections:\n  - { id: ado, connector: azure-devops, webhook: { header: X-Hub-Secret, secret: "${env:S}" } }\n  - { id: ado2, connector: azure-devops, webhook: { username: hub, password: "${env:S}" } }\n  - { id: jira, connector: jira }\n');
    assert.equal(loadConfig({ file, env: { S: 'x' } }).connections.length, 3);
  });

  test('an auth block the HTTP client could not use is refused at its line, naming what to give', () => {
    const typo = refused(snow('    auth:\n      type: bsic\n      password: "${env:P}"'), { P: 'x' });
    assert.equal(typo.path, 'connections[0].auth.type');
    assert.equal(typo.line, 7);
    assert.match(typo.reason, /"bsic" is not an auth type \(use basic, bearer, header, oauth, github-app\)/);
    assert.match(refused(snow('    auth: { type: constructor }')).reason, /"constructor" is not an auth type/);
    const oauth = refused(snow('    auth: { type: oauth, username: hub, password: "${env:P}" }'), { P: 'x' });
    assert.deepEqual(oauth.problems.map((p) => [p.path, p.line, p.reason]), [
      ['connections[0].auth.clientId', 6, 'is required for auth type "oauth"'],
      ['connections[0].auth.clientSecret', 6, 'is required for auth type "oauth"'],
    ]);
    const app = refused('connections:\n  - id: github\n    connector: github\n    auth: { type: github-app, appId: "1", privateKey: "${env:P}" }\n', { P: 'x' });
    assert.equal(app.path, 'connections[0].auth.installationId');
    const notGithub = refused(snow('    auth: { type: github-app, appId: "1", privateKey: "${env:P}", installationId: "2" }'), { P: 'x' });
    assert.match(notGithub.reason, /only for a github connection/);
    // Azure DevOps PATs go with an empty username.
    const { file } = configFile(snow('    auth: { type: basic, username: "", password: "${env:P}" }'));
    assert.equal(loadConfig({ file, env: { P: 'x' } }).connections.length, 1);
  });

  test('a misspelt connection option is refused naming the connector\'s options', () => {
    const err = refused(snow('    options:\n      systemOfRecrd: true\n      assignmentGroup: 8a4d'));
    assert.equal(err.path, 'connections[0].options.systemOfRecrd');
    assert.equal(err.line, 7);
    assert.equal(err.reason, 'is not an option of the servicenow connector (known: systemOfRecord, changeDefaults, rollbackAction, assignmentGroup, assignmentGroups, reconcileLookbackMinutes)');
  });

  test('an option naming what is not in the file, or missing what a reconcile schedule needs, is refused', () => {
    const gh = refused('connections:\n  - id: github\n    connector: github\n    options: { jira: jira-cloud }\n  - { id: jira, connector: jira }\n');
    assert.equal(gh.path, 'connections[0].options.jira');
    assert.equal(gh.line, 4);
    assert.match(gh.reason, /names no jira connection in this file \(jira connections: jira\)/);
    const jira = refused('connections:\n  - id: jira\n    connector: jira\n    reconcile: { cron: "*/10 * * * *" }\n    options: { changeProjects: [CHG] }\n');
    assert.equal(jira.path, 'connections[0].options.project');
    assert.match(jira.reason, /is required with a reconcile schedule \(or options\.jql\)/);
    const { file } = configFile('connections:\n  - { id: github, connector: github, options: { jira: jira } }\n  - { id: jira, connector: jira, reconcile: { cron: "*/10 * * * *" }, options: { jql: "project = CHG" } }\n');
    assert.equal(loadConfig({ file, env: {} }).connections.length, 2);
  });

  test('two connections with one id', () => {
    const err = refused('connections:\n  - { id: jira, connector: jira }\n  - { id: jira, connector: jira }\n');
    assert.equal(err.path, 'connections[1].id');
    assert.equal(err.line, 3);
    assert.match(err.reason, /duplicate connection id "jira"/);
  });

  test('YAML that does not parse', () => {
    const err = refused('server:\n  port: 3000\n connections: [\n');
    assert.equal(err.line, 3);
    assert.match(err.reason, /not valid YAML/);
  });

  test('an unquoted secret reference inside { } gets a hint', () => {
    const err = refused(snow('    webhook: { secret: ${env:SN_WEBHOOK_SECRET} }'), { SN_WEBHOOK_SECRET: 's' });
    assert.equal(err.line, 6);
    assert.match(err.reason, /write secret references in quotes/);
    // One line to fix, not the parser's cascade over the rest of the block.
    assert.equal(err.problems.length, 1);
  });

  test('a file that does not exist', () => {
    const missing = join(tmpdir(), 'no-such-dir-for-hub', 'hub.yaml');
    assert.throws(() => loadConfig({ file: missing, env: {} }), (err: unknown) => err instanceof ConfigError && err.file === missing && err.reason === 'file not found');
  });

  test('every problem is listed, not only the first', () => {
    const err = refused('server: { port: -1 }\nqueue: rabbit\n');
    assert.deepEqual(err.problems.map((p) => p.path).sort(), ['queue', 'server.port']);
    assert.equal(err.message.split('\n').length, 2);
  });
});

describe('secrets', () => {
  test('${env:NAME} and ${file:PATH} become Secrets that print as [redacted]', () => {
    const { file } = configFile(snow([
      '    auth: { type: basic, username: svc-hub, password: "${env:SN_PASSWORD}" }',
      '    webhook:',
      '      secret: ${file:webhook.secret}',
    ].join('\n')), { 'webhook.secret': 'whsec-from-file\n' });
    const c = loadConfig({ file, env: { SN_PASSWORD: 'hunter2-password' } });
    const conn = c.connections[0]!;
    const password = conn.auth!.password as Secret;
    const secret = conn.webhook!.secret as Secret;
    assert.ok(isSecret(password) && isSecret(secret));
    assert.equal(password.reveal(), 'hunter2-password');
    assert.equal(secret.reveal(), 'whsec-from-file', 'the trailing newline of a secret file is not part of it');
    assert.equal(conn.auth!.username, 'svc-hub');
    for (const shown of [String(password), `${password}`, JSON.stringify(c), inspect(c, { depth: 10 })]) {
      assert.ok(!shown.includes('hunter2-password') && !shown.includes('whsec-from-file'), shown);
    }
    assert.match(JSON.stringify(conn.auth), /"password":"\[redacted\]"/);
  });

  test('a literal value in a secret-bearing field is refused without echoing it', () => {
    const err = refused(snow('    auth:\n      type: basic\n      username: svc\n      password: hunter2-literal'));
    assert.equal(err.path, 'connections[0].auth.password');
    assert.equal(err.line, 9);
    assert.match(err.reason, /must come from "\$\{env:NAME\}" or "\$\{file:PATH\}"/);
    assert.ok(!err.message.includes('hunter2-literal'));
  });

  test('literal webhook secrets, tokens and keys are refused too', () => {
    const err = refused('connections:\n  - id: github\n    connector: github\n    webhook: { secrets: [abc, def], token: t0k }\n    auth: { type: github-app, appId: "1", privateKey: pem, installationId: "2" }\n');
    assert.deepEqual(err.problems.map((p) => p.path).sort(), [
      'connections[0].auth.privateKey', 'connections[0].webhook.secrets[0]', 'connections[0].webhook.secrets[1]', 'connections[0].webhook.token',
    ]);
  });

  test('an unset variable and an unreadable file are named', () => {
    const err = refused(snow('    auth: { type: bearer, token: "${env:SN_TOKEN}" }\n    webhook: { secret: "${file:missing.pem}" }'));
    const reasons = Object.fromEntries(err.problems.map((p) => [p.path, p.reason]));
    assert.equal(reasons['connections[0].auth.token'], 'environment variable SN_TOKEN is not set');
    assert.match(reasons['connections[0].webhook.secret']!, /cannot read secret file missing\.pem \(ENOENT\)/);
  });

  test('secret references outside auth and webhook are refused', () => {
    const err = refused(snow('    options: { apiKey: "${env:X}" }'), { X: 'x' });
    assert.equal(err.path, 'connections[0].options.apiKey');
    assert.match(err.reason, /only allowed in a connection's auth and webhook/);
  });

  test('a reference must be the whole value', () => {
    const err = refused(snow('    auth: { type: bearer, token: "Bearer ${env:X}" }'), { X: 'x' });
    assert.equal(err.path, 'connections[0].auth.token');
    assert.match(err.reason, /must be the whole value/);
  });
});

describe('connections', () => {
  test('PRODUCT.md §5 shape: mapping: is keyed by its record kind', () => {
    const { file } = configFile(snow([
      '    auth: { type: basic, username: "${env:SN_USER}", password: "${env:SN_PASSWORD}" }',
      '    webhook: { secret: "${env:SN_WEBHOOK_SECRET}" }',
      '    mapping: servicenow/change_request.yaml',
      '    reconcile: { cron: "*/5 * * * *" }',
      '    rateLimit: { perSecond: 10 }',
    ].join('\n')));
    const c = loadConfig({ file, env: { SN_USER: 'u', SN_PASSWORD: 'p', SN_WEBHOOK_SECRET: 'w' } });
    const conn = c.connections[0]!;
    assert.equal(conn.connector, 'servicenow');
    assert.deepEqual(conn.mappings, { change_request: 'servicenow/change_request.yaml' });
    assert.deepEqual(conn.reconcile, { cron: '*/5 * * * *' });
    assert.deepEqual(conn.rateLimit, { perSecond: 10 });
    assert.deepEqual(conn.options, {});
  });

  test('mappings: by record kind is kept as given', () => {
    const { file } = configFile('connections:\n  - id: jira\n    connector: jira\n    mappings: { issue: jira/issue.yaml, approval: jira/approval.yaml }\n');
    assert.deepEqual(loadConfig({ file, env: {} }).connections[0]!.mappings, { issue: 'jira/issue.yaml', approval: 'jira/approval.yaml' });
  });

  test('a reconcile schedule that is not a cron expression is refused', () => {
    const err = refused('connections:\n  - id: jira\n    connector: jira\n    reconcile:\n      cron: "every 5 minutes"\n    options: { project: CHG }\n');
    assert.equal(err.path, 'connections[0].reconcile.cron');
    assert.equal(err.line, 5);
    assert.match(err.reason, /not a cron expression/);
  });

  test('mapping and mappings together are refused', () => {
    const err = refused('connections:\n  - id: jira\n    connector: jira\n    mapping: jira/issue.yaml\n    mappings: { issue: jira/issue.yaml }\n');
    assert.equal(err.path, 'connections[0].mapping');
    assert.equal(err.line, 4);
  });
});
