// `approval-hub connections test` as an admin runs it after registering the hub: one line per connection
// saying whether the credentials in hub.yaml are accepted and the vendor is reachable, checked against
// the fake vendor servers (which refuse wrong credentials the way the vendors do).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connectionsCommand } from '../../src/cli/commands/connections.ts';
import { main } from '../../src/cli/main.ts';
import { startFakeGitHub, type FakeGitHub } from '../fakes/github.ts';
import { startFakeJira, type FakeJira } from '../fakes/jira.ts';
import { startFakeServiceNow, type FakeServiceNow } from '../fakes/servicenow.ts';
import { repoFiles, writeConfig } from '../http/helpers.ts';

async function run(argv: string[], env: NodeJS.ProcessEnv) {
  let out = '';
  let err = '';
  const code = await connectionsCommand(argv, { out: (t) => { out += t; }, err: (t) => { err += t; }, env });
  return { code, out, err };
}

describe('approval-hub connections test', () => {
  let sn: FakeServiceNow;
  let gh: FakeGitHub;
  let jira: FakeJira;
  let otherGh: FakeGitHub;
  before(async () => {
    [sn, gh, jira, otherGh] = await Promise.all([startFakeServiceNow(), startFakeGitHub(), startFakeJira(), startFakeGitHub()]);
  });
  after(() => Promise.all([sn.close(), gh.close(), jira.close(), otherGh.close()]));

  function hubYaml(opts: { snUrl?: string; ghUrl?: string; jiraUrl?: string } = {}): string {
    return writeConfig(`store: "sqlite::memory:"
${repoFiles}connections:
  - id: servicenow-prod
    connector: servicenow
    baseUrl: ${opts.snUrl ?? sn.url}
    auth: { type: basic, username: hub.integration, password: "\${env:SN_PASSWORD}" }
    webhook: { secret: "\${env:SN_SECRET}" }
  - id: github
    connector: github
    baseUrl: ${opts.ghUrl ?? gh.url}
    auth: { type: github-app, appId: "${gh.appId}", privateKey: "\${env:GH_KEY}", installationId: "${gh.installations[0]!.id}" }
    webhook: { secret: "\${env:GH_SECRET}" }
  - id: jira
    connector: jira
    baseUrl: ${opts.jiraUrl ?? jira.url}
    auth: { type: basic, username: hub@acme.example, password: "\${env:JIRA_TOKEN}" }
    webhook: { secret: "\${env:JIRA_SECRET}" }
    options: { project: CHG }
  - id: deploy-tool
    connector: generic
    baseUrl: http://127.0.0.1:9
    webhook: { secret: "\${env:DEPLOY_SECRET}" }
    options: { callbackPath: /hooks/approval-hub }
`);
  }
  const goodEnv = () => ({ SN_PASSWORD: 'hub-password', SN_SECRET: 's', GH_KEY: gh.privateKey, GH_SECRET: 's', JIRA_TOKEN: 'jira-api-token', JIRA_SECRET: 's', DEPLOY_SECRET: 'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=' });

  test('a connection without baseUrl says what to add: SKIP for a webhook-only one, FAIL for one the hub calls', async () => {
    const file = writeConfig(`store: "sqlite::memory:"
${repoFiles}connections:
  - id: gitlab
    connector: gitlab
    webhook: { secret: "\${env:S}" }
  - id: jira
    connector: jira
    webhook: { secret: "\${env:S}" }
`);
    const r = await run(['test'], { S: 's', HUB_CONFIG: file });
    assert.equal(r.code, 1);
    const lines = r.out.trim().split('\n');
    assert.match(lines[0]!, /^SKIP  gitlab .*no baseUrl: the connection only receives webhooks; set baseUrl and auth on connection "gitlab" to check its API \(see connectors\/gitlab\/README\.md\)$/);
    assert.match(lines[1]!, /^FAIL  jira .*no baseUrl: the hub cannot call the jira API; set baseUrl and auth on connection "jira"/);
  });

  test('all credentials accepted: OK per connection, the generic one says it has no health check, exit 0', async () => {
    const r = await run(['test'], { ...goodEnv(), HUB_CONFIG: hubYaml() });
    assert.equal(r.code, 0, r.out + r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 4, r.out);
    assert.match(lines[0]!, /^OK +servicenow-prod +\(servicenow\) +Table API answered/);
    assert.match(lines[1]!, /^OK +github +\(github\) +installation token works/);
    assert.match(lines[2]!, /^OK +jira +\(jira\) +authenticated as /);
    assert.match(lines[3]!, /^SKIP +deploy-tool +\(generic\) +no health check declared/);
    // The checks really went to the vendors, signed in.
    assert.ok(sn.callsTo('GET', /\/api\/now\/table\/change_request/).some((c) => c.status === 200));
    assert.ok(gh.callsTo('POST', /\/app\/installations\/\d+\/access_tokens/).some((c) => c.status === 201));
    assert.ok(jira.callsTo('GET', /\/rest\/api\/3\/myself/).some((c) => c.status === 200));
  });

  test('a wrong Jira token and a GitHub App key of another app: FAIL naming why, the others still OK, exit 1', async () => {
    const r = await run(['test'], { ...goodEnv(), JIRA_TOKEN: 'revoked-token', GH_KEY: otherGh.privateKey, HUB_CONFIG: hubYaml() });
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /^FAIL +jira +\(jira\) +credentials refused \(401\)/m);
    assert.match(r.out, /^FAIL +github +\(github\) +.*401/m);
    assert.match(r.out, /^OK +servicenow-prod /m);
  });

  test('--connection checks one connection; an unreachable host is a FAIL saying so', async () => {
    const gone = await startFakeServiceNow();
    const url = gone.url;
    await gone.close();
    const r = await run(['test', '--connection', 'servicenow-prod'], { ...goodEnv(), HUB_CONFIG: hubYaml({ snUrl: url }) });
    assert.equal(r.code, 1, r.out + r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 1, r.out);
    assert.match(lines[0]!, new RegExp(`^FAIL +servicenow-prod +\\(servicenow\\) +cannot reach ${url.replace(/[.]/g, '\\.')}`));
  });

  test('an unreachable host reads the same for every connector: cannot reach <baseUrl>, no made-up HTTP status', async () => {
    const gone = await startFakeServiceNow();
    const url = gone.url;
    await gone.close();
    const r = await run(['test'], { ...goodEnv(), HUB_CONFIG: hubYaml({ snUrl: url, ghUrl: url, jiraUrl: url }) });
    assert.equal(r.code, 1, r.out + r.err);
    const escaped = url.replace(/[.]/g, '\\.');
    for (const [id, connector] of [['servicenow-prod', 'servicenow'], ['github', 'github'], ['jira', 'jira']]) {
      assert.match(r.out, new RegExp(`^FAIL +${id} +\\(${connector}\\) +cannot reach ${escaped}: connection "${id}": [A-Z]+ /\\S* got no response \\(.*ECONNREFUSED`, 'm'), r.out);
    }
    assert.doesNotMatch(r.out, /\b500\b/);
  });

  test('a ServiceNow baseUrl that answers 200 but not as the Table API is a FAIL saying so', async () => {
    const notTableApi = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{}'); });
    notTableApi.listen(0, '127.0.0.1');
    await once(notTableApi, 'listening');
    try {
      const url = `http://127.0.0.1:${(notTableApi.address() as AddressInfo).port}`;
      const r = await run(['test', '--connection', 'servicenow-prod'], { ...goodEnv(), HUB_CONFIG: hubYaml({ snUrl: url }) });
      assert.equal(r.code, 1, r.out + r.err);
      assert.match(r.out, /^FAIL +servicenow-prod +\(servicenow\) +.* answered 200 but not as the Table API \(expected \{"result": \[\.\.\.\]\} for change_request, got \{\}\)/);
    } finally {
      notTableApi.close();
    }
  });

  test('--json: one object per connection with its outcome and detail', async () => {
    const r = await run(['test', '--json'], { ...goodEnv(), SN_PASSWORD: 'wrong', HUB_CONFIG: hubYaml() });
    assert.equal(r.code, 1);
    const body = JSON.parse(r.out) as { ok: boolean; connections: { connectionId: string; connector: string; outcome: string; detail: string }[] };
    assert.equal(body.ok, false);
    assert.deepEqual(body.connections.map((c) => [c.connectionId, c.outcome]), [['servicenow-prod', 'fail'], ['github', 'ok'], ['jira', 'ok'], ['deploy-tool', 'unchecked']]);
    assert.match(body.connections[0]!.detail, /credentials refused \(401\)/);
  });

  test('an unknown connection id or an unresolvable secret is a configuration error, exit 2', async () => {
    const unknown = await run(['test', '--connection', 'servicenow-dev'], { ...goodEnv(), HUB_CONFIG: hubYaml() });
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /no connection "servicenow-dev" in .*hub\.yaml \(configured: servicenow-prod, github, jira, deploy-tool\)/);
    const { JIRA_TOKEN: _omit, ...env } = goodEnv();
    const missing = await run(['test'], { ...env, HUB_CONFIG: hubYaml() });
    assert.equal(missing.code, 2);
    assert.match(missing.err, /configuration refused/);
    assert.match(missing.err, /JIRA_TOKEN/);
  });

  test('--help shows the usage, exit 0; an unknown subcommand is a usage error', async () => {
    const help = await run(['test', '--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.out, /approval-hub connections test \[--connection ID\] \[--json\]/);
    await assert.rejects(run(['ping'], {}), /unknown subcommand "ping"/);
  });

  test('through the approval-hub command: `connections test --connection jira` with a revoked token exits 1', async () => {
    let out = '';
    const code = await main(['connections', 'test', '--connection', 'jira'], { out: (t) => { out += t; }, err: () => {}, env: { ...goodEnv(), JIRA_TOKEN: 'revoked', HUB_CONFIG: hubYaml() } });
    assert.equal(code, 1);
    assert.match(out, /^FAIL +jira +\(jira\) +credentials refused \(401\)/);
    let err = '';
    assert.equal(await main(['connections', 'check'], { out: () => {}, err: (t) => { err += t; }, env: {} }), 2);
    assert.match(err, /unknown subcommand "check"/);
  });
});
