// The mapping engine on the shipped mapping files and on small inline ones, against real-shaped
// payloads from /work/shared/vendor-payloads (copied into the connectors' fixtures).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkMappings, compileMapping, loadMapping, normalize, render, tryMapping, type Mapping } from '../../../src/mapping/index.ts';
import { parseDirectory, personFor } from '../../../src/pipeline/directory.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const mappingsDir = join(root, 'mappings');

async function shipped(file: string): Promise<Mapping> {
  const loaded = await loadMapping(join(mappingsDir, file));
  assert.ok(loaded.ok, `mapping ${file} should load: ${JSON.stringify(!loaded.ok && loaded.errors)}`);
  return loaded.mapping;
}
function inline(text: string): Mapping {
  const r = compileMapping(text, 'inline.yaml');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.mapping;
}
function errorsOf(text: string) {
  const r = compileMapping(text, 'bad.yaml');
  assert.equal(r.ok, false);
  return r.ok ? [] : r.errors;
}
async function fixture(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(root, path), 'utf8')) as Record<string, unknown>;
}

test('every shipped mapping file passes the check', async () => {
  assert.deepEqual(await checkMappings(mappingsDir), []);
});

test('a ServiceNow change_request normalizes numeric states, risk, reference and UTC times', async () => {
  const mapping = await shipped('servicenow/change_request.yaml');
  const record = (await fixture('connectors/servicenow/fixtures/responses/change_request.json')).result;
  const r = normalize(mapping, record);
  assert.ok(r.ok);
  assert.equal(r.value.state, 'pending-approval'); // "-3" Authorize
  assert.equal(r.value.approval, 'requested');
  assert.deepEqual(r.value.risk, { tier: 'medium' }); // "3" Moderate
  assert.deepEqual(r.value.plannedWindow, { start: '2024-11-24T14:00:00.000Z', end: '2024-11-24T15:00:00.000Z' });
  assert.equal(r.value.updatedAt, '2024-11-24T13:02:40.000Z');
  assert.deepEqual(r.value.labels, { servicenowNumber: 'CHG0030012', servicenowSysId: 'c83c5e5347c12200e0ef563dbb9a7190' });
});

test('each ServiceNow state value maps to its canonical state, legacy values included', async () => {
  const mapping = await shipped('servicenow/change_request.yaml');
  const expected: Record<string, string> = {
    '-5': 'draft', '-4': 'pending-approval', '-3': 'pending-approval', '-2': 'approved', '-1': 'implementing',
    '0': 'review-pending', '3': 'closed', '4': 'cancelled', '1': 'draft', '2': 'implementing', '7': 'closed',
  };
  for (const [state, canonical] of Object.entries(expected)) {
    const r = normalize(mapping, { short_description: 'x', state });
    assert.ok(r.ok && r.value.state === canonical, `state ${state} → ${canonical}`);
  }
});

test('the "not requested" approval string (with its space) maps to not-requested', async () => {
  const mapping = await shipped('servicenow/change_request.yaml');
  const r = normalize(mapping, { short_description: 'x', approval: 'not requested' });
  assert.ok(r.ok);
  assert.equal(r.value.approval, 'not-requested');
});

test('an unknown ServiceNow state fails naming the field, the value and the known values', async () => {
  const mapping = await shipped('servicenow/change_request.yaml');
  const r = normalize(mapping, { short_description: 'x', state: '9' });
  assert.equal(r.ok, false);
  assert.ok(!r.ok);
  assert.equal(r.field, 'state');
  assert.match(r.reason, /value "9" \(from state\) is not in the value map \(known: "-5", "-4"/);
});

test('a missing required field fails with the field and the external path', async () => {
  const mapping = await shipped('servicenow/change_request.yaml');
  const r = normalize(mapping, { state: '-5' });
  assert.deepEqual(r, { ok: false, field: 'title', reason: 'required but missing (from short_description)' });
});

test('a Jira issue normalizes its status, ADF description, custom field default and +0100 times', async () => {
  const mapping = await shipped('jira/issue.yaml');
  const issue = (await fixture('connectors/jira/fixtures/deliveries/issue-status-approved/body.json')).issue;
  const r = normalize(mapping, issue);
  assert.ok(r.ok);
  assert.equal(r.value.state, 'approved'); // "Awaiting implementation"
  assert.equal(r.value.description, 'Release 2.14.0 of payments-api.');
  assert.equal(r.value.environment, 'production'); // customfield_10050 absent → default
  assert.equal(r.value.updatedAt, '2024-11-24T13:20:00.118Z'); // 14:20:00.118+0100
  assert.equal(r.value.requester, '5b10ac8d82e05b22cc7d4ef5'); // no email visible → account id
  assert.deepEqual(r.value.services, ['deploy', 'payments']);
});

test('ServiceNow approval journal comments lose their header; an empty journal is a null rationale', async () => {
  const mapping = await shipped('servicenow/sysapproval_approver.yaml');
  const base = { sys_id: 'a1', sysapproval: 'c8', 'approver.email': 'beth.anglin@example.com', sys_updated_on: '2024-11-24 13:10:02' };
  const approved = normalize(mapping, { ...base, state: 'approved', comments: '2024-11-24 13:10:02 - Beth Anglin (Comments)\nLooks fine\n\n' });
  assert.ok(approved.ok);
  assert.deepEqual(approved.value, {
    outcome: 'approve', actor: 'beth.anglin@example.com', rationale: 'Looks fine', at: '2024-11-24T13:10:02.000Z', recordId: 'c8', approvalId: 'a1',
  });
  const pending = normalize(mapping, { ...base, state: 'requested', comments: '' });
  assert.ok(pending.ok);
  assert.equal(pending.value.outcome, 'pending');
  assert.equal(pending.value.rationale, null);
});

test('a ServiceNow approver without the dot-walked email is its sys_user sys_id, which the directory names', async () => {
  const mapping = await shipped('servicenow/sysapproval_approver.yaml');
  // A plain Table API answer (no sysparm_fields): the shared vendor example, copied into test/fakes/payloads.
  const [, approved] = (await fixture('test/fakes/payloads/servicenow-sysapproval_approver.json')).result as Record<string, unknown>[];
  const reference = normalize(mapping, approved);
  assert.ok(reference.ok, JSON.stringify(reference));
  assert.equal(reference.value.actor, 'a8f98bb0eb32010045e1a5115206fe3a');
  // With sysparm_exclude_reference_link the reference is the bare sys_id.
  const bare = normalize(mapping, { ...approved, approver: 'a8f98bb0eb32010045e1a5115206fe3a' });
  assert.ok(bare.ok);
  assert.equal(bare.value.actor, 'a8f98bb0eb32010045e1a5115206fe3a');
  // The email still wins when the query asked for it; an empty one falls back to the reference.
  const both = normalize(mapping, { ...approved, 'approver.email': 'beth.anglin@example.com' });
  assert.ok(both.ok);
  assert.equal(both.value.actor, 'beth.anglin@example.com');
  const blank = normalize(mapping, { ...approved, 'approver.email': '' });
  assert.ok(blank.ok);
  assert.equal(blank.value.actor, 'a8f98bb0eb32010045e1a5115206fe3a');
  const directory = parseDirectory('people:\n  - id: beth.anglin@example.com\n    accounts: { servicenow: [beth.anglin, a8f98bb0eb32010045e1a5115206fe3a] }\n');
  assert.equal(personFor(directory, 'servicenow', String(reference.value.actor)), 'beth.anglin@example.com');
  // Neither an email nor an approver: the field that does not map is named.
  const { approver: _none, ...noApprover } = approved!;
  const missing = normalize(mapping, noApprover);
  assert.equal(missing.ok, false);
  assert.match(missing.ok ? '' : `${missing.field}: ${missing.reason}`, /^actor: required but missing/);
});

test('render writes canonical values back in the ServiceNow wire format', async () => {
  const mapping = await shipped('servicenow/change_request.yaml');
  const out = render(mapping, {
    title: 'Deploy payments-api', state: 'implementing', risk: { tier: 'high' }, approval: 'approved',
    plannedWindow: { start: '2024-11-24T14:00:00Z', end: '2024-11-24T15:30:00.000Z' }, labels: { servicenowNumber: 'CHG1' },
  });
  assert.deepEqual(out, {
    short_description: 'Deploy payments-api', state: '-1', risk: '2', start_date: '2024-11-24 14:00:00', end_date: '2024-11-24 15:30:00',
  });
});

test('render builds the Jira ADF description and nested custom fields', async () => {
  const mapping = await shipped('jira/issue.yaml');
  const out = render(mapping, { title: 'Deploy', description: 'Release notes', environment: 'staging' });
  assert.deepEqual(out, {
    fields: {
      summary: 'Deploy',
      description: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'Release notes' }] }] },
      customfield_10050: { value: 'staging' },
    },
  });
});

test('bracket paths read keys that contain dots and list items', () => {
  const mapping = inline(`system: x\nrecord: y\ntarget: change\nfields:\n  requester: '["requested_by.email"]'\n  title: items[1].name\n`);
  const r = normalize(mapping, { 'requested_by.email': 'a@example.com', items: [{ name: 'first' }, { name: 'second' }] });
  assert.deepEqual(r, { ok: true, value: { requester: 'a@example.com', title: 'second' } });
});

test('coercions turn ServiceNow strings into numbers, lists and times', () => {
  const mapping = inline(
    'system: x\nrecord: y\ntarget: change\nfields:\n  risk.score: score\n  services: list\n  createdAt: { from: at, format: servicenow }\n  updatedAt: { from: ms, format: epoch-ms }\n',
  );
  const r = normalize(mapping, { score: '42', list: 'payments, ledger', at: '2024-01-02 03:04:05', ms: 1732454400123 });
  assert.deepEqual(r, {
    ok: true,
    value: { risk: { score: 42 }, services: ['payments', 'ledger'], createdAt: '2024-01-02T03:04:05.000Z', updatedAt: '2024-11-24T13:20:00.123Z' },
  });
  const bad = normalize(mapping, { score: 'high' });
  assert.deepEqual(bad, { ok: false, field: 'risk.score', reason: 'expected a number, got "high" (from score)' });
});

test('a zone-less time without format: servicenow is refused as ambiguous', () => {
  const mapping = inline('system: x\nrecord: y\ntarget: change\nfields:\n  createdAt: at\n');
  const r = normalize(mapping, { at: '2024-01-02 03:04:05' });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && /has no time zone/.test(r.reason));
});

test('unknown canonical field, bad path and bad CEL are reported with file and line', () => {
  const errors = errorsOf(
    ['system: x', 'record: y', 'target: change', 'fields:', '  titel: short_description', '  title: a..b', '  description: { cel: "payload.a +" }', '  state: { from: s, map: { "1": aproved } }'].join('\n'),
  );
  assert.deepEqual(errors.map((e) => [e.file, e.line]), [['bad.yaml', 5], ['bad.yaml', 6], ['bad.yaml', 7], ['bad.yaml', 8]]);
  assert.match(errors[0]!.reason, /unknown canonical field "titel" for target change/);
  assert.match(errors[1]!.reason, /title: bad path "a\.\.b": expected a field name at character 3/);
  assert.match(errors[2]!.reason, /description: bad CEL: Unexpected token/);
  assert.match(errors[3]!.reason, /state: mapped value "aproved" is not one of draft, /);
});

test('CEL naming an undeclared variable is refused at load', () => {
  const errors = errorsOf('system: x\nrecord: y\ntarget: change\nfields:\n  title: { cel: "paylod.summary" }\n');
  assert.equal(errors[0]!.line, 5);
  assert.match(errors[0]!.reason, /Unknown variable: paylod/);
});

test('YAML syntax errors carry their line', () => {
  const errors = errorsOf('system: x\nrecord: y\ntarget: change\nfields:\n  title: [unclosed\n');
  assert.ok(errors[0]!.line >= 5);
});

test('mappings try prints the canonical JSON and exits 0', async () => {
  const lines: string[] = [];
  // A Table API response ({"result": {...}}): the ServiceNow connector declares where its record sits.
  const servicenow = { at: ['result', 'record', ''], has: ['sys_id'] };
  const code = await tryMapping(join(mappingsDir, 'servicenow/change_request.yaml'), join(root, 'connectors/servicenow/fixtures/responses/change_request.json'), { write: (t) => lines.push(t) }, () => servicenow);
  assert.equal(code, 0);
  const printed = JSON.parse(lines.join('')) as Record<string, unknown>;
  assert.equal(printed.title, 'Deploy payments-api 2.14.0 to production');
  assert.equal(printed.state, 'pending-approval');
});

test('mappings try prints the failing field and reason and exits 1; a bad file exits 2', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mapping-try-'));
  try {
    await writeFile(join(dir, 'p.json'), JSON.stringify({ short_description: 'x', state: '42' }));
    const out: string[] = [];
    assert.equal(await tryMapping(join(mappingsDir, 'servicenow/change_request.yaml'), join(dir, 'p.json'), { write: (t) => out.push(t) }), 1);
    assert.match(out.join(''), /field state: value "42" \(from state\) is not in the value map/);

    await writeFile(join(dir, 'bad.yaml'), 'system: x\nrecord: y\ntarget: nope\nfields: {}\n');
    const out2: string[] = [];
    assert.equal(await tryMapping(join(dir, 'bad.yaml'), join(dir, 'p.json'), { write: (t) => out2.push(t) }), 2);
    assert.match(out2.join(''), /bad\.yaml:3: unknown target "nope"/);

    await writeFile(join(dir, 'broken.json'), '{"a":');
    const out3: string[] = [];
    assert.equal(await tryMapping(join(mappingsDir, 'servicenow/change_request.yaml'), join(dir, 'broken.json'), { write: (t) => out3.push(t) }), 2);
    assert.match(out3.join(''), /broken\.json: not valid JSON/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('checkMappings reports every broken file in a folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mapping-check-'));
  try {
    await writeFile(join(dir, 'ok.yaml'), 'system: x\nrecord: y\ntarget: change\nfields:\n  title: t\n');
    await writeFile(join(dir, 'bad.yaml'), 'system: x\nrecord: y\ntarget: change\nfields:\n  title: t\n  colour: c\n');
    const errors = await checkMappings(dir);
    assert.deepEqual(errors, [{ file: join(dir, 'bad.yaml'), line: 6, reason: 'unknown canonical field "colour" for target change' }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('ServiceNow empty values ("") count as missing for mapped, numeric and time fields but stay "" for text', async () => {
  const mapping = await shipped('servicenow/change_request.yaml');
  const r = normalize(mapping, { short_description: 'x', description: '', risk: '', start_date: '', state: '-5', approval: 'requested' });
  assert.ok(r.ok);
  assert.deepEqual(r.value, { title: 'x', description: '', state: 'draft', approval: 'requested', services: [] });
});

test('a default that does not fit the canonical type is refused at load', () => {
  const errors = errorsOf('system: x\nrecord: y\ntarget: change\nfields:\n  risk.score: { from: s, default: high }\n');
  assert.deepEqual(errors, [{ file: 'bad.yaml', line: 5, reason: 'risk.score: default: expected a number, got "high"' }]);
});

test('render skips canonical values the value map has no external value for', async () => {
  const mapping = await shipped('servicenow/change_request.yaml');
  assert.deepEqual(render(mapping, { state: 'expired' }), {});
});

test('times: Jira offsets with and without a colon, ISO Z and epoch milliseconds all become ISO-8601 UTC', async () => {
  const { parseTime, formatTime } = await import('../../../src/mapping/index.ts');
  assert.deepEqual(parseTime('2024-11-24T14:20:00.118+0100', 'jira'), { ok: true, value: '2024-11-24T13:20:00.118Z' });
  assert.deepEqual(parseTime('2024-11-24T14:20:00+01:00', 'iso'), { ok: true, value: '2024-11-24T13:20:00.000Z' });
  assert.deepEqual(parseTime('2024-11-24T13:20:00Z', 'iso'), { ok: true, value: '2024-11-24T13:20:00.000Z' });
  assert.deepEqual(parseTime(1732454400123, 'epoch-ms'), { ok: true, value: '2024-11-24T13:20:00.123Z' });
  assert.equal(parseTime('yesterday', 'iso').ok, false);
  assert.equal(formatTime('2024-11-24T13:20:00.118Z', 'servicenow'), '2024-11-24 13:20:00');
  assert.equal(formatTime('2024-11-24T13:20:00.118Z', 'jira'), '2024-11-24T13:20:00.118+0000');
});

test('bad path syntax is explained with the character position', () => {
  for (const [path, reason] of [
    ['a[x]', 'bad bracket at character 2: use [<number>] or ["key"]'],
    ['a.', 'expected a field name at character 3'],
    ['.a', 'expected a field name at character 1'],
  ] as const) {
    const errors = errorsOf(`system: x\nrecord: y\ntarget: change\nfields:\n  title: '${path}'\n`);
    assert.deepEqual(errors, [{ file: 'bad.yaml', line: 5, reason: `title: bad path "${path}": ${reason}` }]);
  }
});
