// `approval-hub mappings try` on the payloads an integration engineer has in hand: vendor webhook bodies
// and API responses as the vendors send them (test/fakes/payloads/: copies of the shared vendor examples;
// the connectors' recorded deliveries), not records cut out of them by hand. Only files in this repository:
// a clean clone has nothing beside it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { main } from '../../src/cli/main.ts';

const repo = join(import.meta.dirname, '..', '..');
const fakes = join(repo, 'test', 'fakes', 'payloads');
const mapping = (name: string) => join(repo, 'mappings', name);
const scratch = mkdtempSync(join(tmpdir(), 'mappings-try-'));

async function tryIt(mappingFile: string, payload: string) {
  let out = '';
  let err = '';
  const code = await main(['mappings', 'try', mappingFile, payload], { out: (t) => { out += t; }, err: (t) => { err += t; }, env: {} });
  return { code, out, err };
}

/** A payload derived from a recorded one, written where the test can name it. */
function derived(name: string, body: unknown): string {
  const file = join(scratch, name);
  writeFileSync(file, JSON.stringify(body));
  return file;
}
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

describe('mappings try: Jira', () => {
  test('a Jira webhook body ({webhookEvent, issue, changelog}) maps its issue', async () => {
    for (const payload of [join(fakes, 'jira-issue_updated.json')]) {
      const r = await tryIt(mapping('jira/issue.yaml'), payload);
      assert.equal(r.code, 0, r.out + r.err);
      const change = JSON.parse(r.out);
      assert.equal(change.title, 'Deploy payments-api 2.14.0 to production');
      assert.equal(change.labels.jiraKey, 'CHG-42');
      assert.match(r.err, /the issue record at issue/);
    }
  });

  test('a Jira REST issue (GET /rest/api/3/issue/{key}) is the record itself', async () => {
    const { issue } = read(join(fakes, 'jira-issue_updated.json'));
    const r = await tryIt(mapping('jira/issue.yaml'), derived('issue.json', { expand: 'renderedFields,names,schema', ...issue }));
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(JSON.parse(r.out).title, 'Deploy payments-api 2.14.0 to production');
    assert.equal(r.err, '');
  });

  test('a Jira search page maps every issue, in order', async () => {
    const { issue } = read(join(fakes, 'jira-issue_updated.json'));
    const second = { ...issue, id: '10043', key: 'CHG-43', fields: { ...issue.fields, summary: 'Rotate ledger keys' } };
    const r = await tryIt(mapping('jira/issue.yaml'), derived('search.json', { issues: [issue, second], nextPageToken: null, isLast: true }));
    assert.equal(r.code, 0, r.out + r.err);
    assert.deepEqual(JSON.parse(r.out).map((c: { title: string }) => c.title), ['Deploy payments-api 2.14.0 to production', 'Rotate ledger keys']);
    assert.match(r.err, /2 issue records at issues/);
  });

  test('a payload of another system names the file and what was looked for', async () => {
    const payload = join(fakes, 'servicenow-change_request.json');
    const r = await tryIt(mapping('jira/issue.yaml'), payload);
    assert.equal(r.code, 1);
    assert.equal(r.out, `${payload}: no jira issue record found: looked for an object with key, fields (or a non-empty list of them) at issue, issues, the payload itself\n`);
  });
});

describe('mappings try: ServiceNow', () => {
  test('a Table API response {"result": {...}} maps its record', async () => {
    const r = await tryIt(mapping('servicenow/change_request.yaml'), join(fakes, 'servicenow-change_request.json'));
    assert.equal(r.code, 0, r.out + r.err);
    const change = JSON.parse(r.out);
    assert.equal(change.title, 'Deploy payments-api 2.14.0 to production');
    assert.equal(change.state, 'pending-approval');
  });

  test('a Table API query {"result": [...]} maps each record and names the one that does not map', async () => {
    const { result } = read(join(fakes, 'servicenow-change_request.json'));
    const ok = await tryIt(mapping('servicenow/change_request.yaml'), derived('changes.json', { result: [result, { ...result, sys_id: 'd2', short_description: 'Rotate ledger keys' }] }));
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.deepEqual(JSON.parse(ok.out).map((c: { title: string }) => c.title), ['Deploy payments-api 2.14.0 to production', 'Rotate ledger keys']);

  });

  test('a plain Table API approval answer (approver as a reference) maps the actor to the approver\'s sys_id', async () => {
    // Without sysparm_fields=approver.email the Table API leaves the approver a {link, value} reference;
    // the directory names people by that sys_id (accounts: { servicenow: [<sys_id>] }).
    const r = await tryIt(mapping('servicenow/sysapproval_approver.yaml'), join(fakes, 'servicenow-sysapproval_approver.json'));
    assert.equal(r.code, 0, r.out + r.err);
    const decisions = JSON.parse(r.out) as { outcome: string; actor: string }[];
    assert.deepEqual(decisions.map((d) => [d.outcome, d.actor]), [['pending', '46d44a23a9fe19810012d100cca80666'], ['approve', 'a8f98bb0eb32010045e1a5115206fe3a']]);
    assert.match(r.err, /2 sysapproval_approver records at result/);

    // A record with no approver at all still names the field that does not map, and which record.
    const { result } = read(join(fakes, 'servicenow-sysapproval_approver.json'));
    const { approver: _none, ...noApprover } = result[0];
    const missing = await tryIt(mapping('servicenow/sysapproval_approver.yaml'), derived('approvals.json', { result: [noApprover, result[1]] }));
    assert.equal(missing.code, 1);
    assert.match(missing.out, /sysapproval_approver\.yaml: field actor: required but missing \(from CEL .*\) \(record 1 of 2\)/);
  });

  test('the hub business rule\'s body {table, record, changed} maps its record', async () => {
    const r = await tryIt(mapping('servicenow/sysapproval_approver.yaml'), join(repo, 'connectors', 'servicenow', 'fixtures', 'deliveries', 'approval-approved', 'body.json'));
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(JSON.parse(r.out).actor, 'beth.anglin@example.com');
    assert.match(r.err, /the sysapproval_approver record at record/);
  });
});

describe('mappings try: GitHub and generic', () => {
  test('a deployment_protection_rule webhook body maps as it is; another event is refused by name', async () => {
    const r = await tryIt(mapping('github/deployment.yaml'), join(fakes, 'github-deployment_protection_rule.requested.json'));
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(JSON.parse(r.out).title, 'Deploy Codertocat/Hello-World (master) to production');

    const review = join(fakes, 'github-pull_request_review.submitted.json');
    const refused = await tryIt(mapping('github/deployment.yaml'), review);
    assert.equal(refused.code, 1);
    assert.match(refused.out, new RegExp(`^${review.replaceAll('.', '\\.')}: no github deployment record found: looked for an object with deployment, environment, deployment_callback_url`));
  });

  test('a generic change.requested event maps its change; a bare change maps too', async () => {
    const body = join(repo, 'connectors', 'generic', 'fixtures', 'deliveries', 'change-requested', 'body.json');
    const event = await tryIt(mapping('generic/change.yaml'), body);
    assert.equal(event.code, 0, event.out + event.err);
    assert.equal(JSON.parse(event.out).title, 'Deploy ledger 3.2.0 to production');
    const bare = await tryIt(mapping('generic/change.yaml'), derived('change.json', read(body).change));
    assert.equal(bare.code, 0, bare.out + bare.err);
    assert.deepEqual(JSON.parse(bare.out), JSON.parse(event.out));
  });
});
