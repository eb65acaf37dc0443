// `approval-hub policy test` and `policy simulate` as a user runs them: output and exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPolicyTest, runPolicySimulate } from '../../src/cli/commands/policy.ts';

function collector() {
  let text = '';
  return { out: { write: (t: string) => { text += t; } }, text: () => text };
}

function tempCases(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'policy-cases-'));
  copyFileSync('config/policy-cases/directory.yaml', join(dir, 'directory.yaml'));
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return dir;
}

test('policy test passes on the shipped cases and exits 0', async () => {
  const c = collector();
  assert.equal(await runPolicyTest('config/policy-cases', { out: c.out }), 0);
  assert.match(c.text(), /✓ 07-emergency\.yaml › an emergency deployment not validated within 4h triggers the rollback/);
  assert.match(c.text(), /\n\d+ passed, 0 failed\n$/);
});

test('a failing case is shown with what was expected and exits 1', async () => {
  const dir = tempCases({
    'wrong.yaml': `policy: ${join(process.cwd(), 'config/policy.yaml')}
cases:
  - name: staging is high risk (it is not)
    change: { title: Bump, environment: staging, requester: dev.okafor@acme.example, team: payments }
    expect: { tier: high, steps: [CAB] }
`,
  });
  try {
    const c = collector();
    assert.equal(await runPolicyTest(dir, { out: c.out }), 1);
    assert.match(c.text(), /✗ wrong\.yaml › staging is high risk \(it is not\)\n    submit: tier: expected "high", got "low"\n    submit: steps: expected \["CAB"\], got \["Peer approval"\]/);
    assert.match(c.text(), /0 passed, 1 failed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a broken policy under test is a configuration error (exit 2) naming file and line', async () => {
  const dir = tempCases({
    'policy.yaml': `risk:
  factors: []
  tiers: { low: 0 }
routes:
  - { id: x, when: "change.enviroment == 'prod'", steps: [] }
`,
    'cases.yaml': `policy: policy.yaml
cases:
  - { name: anything, change: { title: t, environment: staging, requester: dev.okafor@acme.example } }
`,
  });
  try {
    const c = collector();
    assert.equal(await runPolicyTest(dir, { out: c.out }), 2);
    assert.match(c.text(), /error: .*policy\.yaml:5: routes\[0\]\.when: unknown field 'change\.enviroment' \(did you mean 'change\.environment'\?\) in "change\.enviroment == 'prod'"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a misspelled expectation is a configuration error naming file, line, key and the known keys', async () => {
  const dir = tempCases({
    'typo.yaml': `policy: ${join(process.cwd(), 'config/policy.yaml')}
cases:
  - name: staging is low risk
    change: { title: Bump, environment: staging, requester: dev.okafor@acme.example, team: payments }
    expect: { tierr: low }
  - name: a tick changes nothing
    change: { title: Bump, environment: staging, requester: dev.okafor@acme.example, team: payments }
    then:
      - tick: true
        expect:
          stat: pending-approval
`,
  });
  try {
    const c = collector();
    assert.equal(await runPolicyTest(dir, { out: c.out }), 2);
    const text = c.text().replaceAll(dir, 'DIR');
    assert.match(text, /error: DIR\/typo\.yaml:5: cases\[0\]\.expect\.tierr: unknown expectation \(known: state, tier, score, /);
    assert.match(text, /error: DIR\/typo\.yaml:11: cases\[1\]\.then\[0\]\.expect\.stat: unknown expectation \(known: state, tier, /);
    assert.doesNotMatch(text, /✓/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a case folder without directory.yaml gets one message naming the missing file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-cases-'));
  const body = `policy: ${join(process.cwd(), 'config/policy.yaml')}
cases:
  - { name: anything, change: { title: t, environment: staging, requester: dev.okafor@acme.example } }
`;
  writeFileSync(join(dir, 'a.yaml'), body);
  writeFileSync(join(dir, 'b.yaml'), body);
  try {
    const c = collector();
    assert.equal(await runPolicyTest(dir, { out: c.out }), 2);
    const text = c.text().replaceAll(dir, 'DIR');
    assert.equal(text.match(/^error: /gm)?.length, 1, text);
    assert.match(text, /^error: DIR\/directory\.yaml: no such file; the cases need the directory of people/m);
    assert.doesNotMatch(text, /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing case folder exits 2', async () => {
  const c = collector();
  assert.equal(await runPolicyTest('config/no-such-cases', { out: c.out }), 2);
  assert.match(c.text(), /error: config\/no-such-cases: cannot read the folder \(ENOENT\)/);
});

test('simulate compares two policies over past changes (the A/B comparison)', async () => {
  const c = collector();
  const code = await runPolicySimulate({
    changes: 'config/policy-cases/replay/changes.jsonl', policy: 'config/policy.yaml', against: 'config/policy-cases/replay/policy-b.yaml',
    directory: 'config/policy-cases/directory.yaml', out: c.out,
  });
  assert.equal(code, 0);
  const text = c.text();
  assert.match(text, /Replayed 12 change\(s\)/);
  assert.match(text, /tier high\s+1 \(8%\)\s+2 \(17%\)/);
  assert.match(text, /auto-rejected\s+1\s+2/);
  assert.match(text, /2 change\(s\) decided differently under B/);
  assert.match(text, /CHG-1002: tier medium → high; steps \[Technical lead, Security review\] → \[Technical lead, Operations manager, CAB, Security review\]/);
  assert.match(text, /CHG-1004: outcome awaiting-prerequisites → rejected/);
});

test('simulate --json gives the same report as data', async () => {
  const c = collector();
  assert.equal(await runPolicySimulate({ changes: 'config/policy-cases/replay/changes.jsonl', policy: 'config/policy.yaml', directory: 'config/policy-cases/directory.yaml', json: true, out: c.out }), 0);
  const report = JSON.parse(c.text());
  assert.equal(report.count, 12);
  assert.equal(report.b, null);
  assert.deepEqual(report.a.tiers, { low: 4, medium: 7, high: 1 });
  assert.equal(report.a.outcomes.rejected, 1);
});

test('simulate reports unusable lines with file:line and exits 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-sim-'));
  try {
    const file = join(dir, 'changes.jsonl');
    writeFileSync(file, [
      JSON.stringify({ id: 'OK-1', title: 'Bump', environment: 'staging', requester: 'dev.okafor@acme.example', createdAt: '2026-10-05T09:00:00Z' }),
      '{not json',
      JSON.stringify({ id: 'BAD-1', title: 'Bump', enviroment: 'staging', requester: 'dev.okafor@acme.example', createdAt: '2026-10-05T09:00:00Z' }),
      JSON.stringify({ id: 'BAD-2', title: 'Bump', environment: 'staging', requester: 'dev.okafor@acme.example' }),
    ].join('\n'));
    const c = collector();
    assert.equal(await runPolicySimulate({ changes: file, policy: 'config/policy.yaml', directory: 'config/policy-cases/directory.yaml', out: c.out }), 1);
    const text = c.text().replaceAll(dir, 'DIR');
    assert.match(text, /warning: DIR\/changes\.jsonl:2: not JSON/);
    assert.match(text, /warning: DIR\/changes\.jsonl:3: environment: is required; enviroment: unknown field/);
    assert.match(text, /warning: DIR\/changes\.jsonl:4: needs a time to replay at/);
    assert.match(text, /Replayed 1 change\(s\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('simulate refuses a broken policy B with its file and line (exit 2)', async () => {
  const c = collector();
  const code = await runPolicySimulate({ changes: 'config/policy-cases/replay/changes.jsonl', policy: 'config/policy.yaml', against: 'config/policy-cases/broken/cel-syntax.yaml', directory: 'config/policy-cases/directory.yaml', out: c.out });
  assert.equal(code, 2);
  assert.match(c.text(), /^error: config\/policy-cases\/broken\/cel-syntax\.yaml:7: routes\[0\]\.when: CEL syntax error/);
});

test('simulate without its inputs is a usage error', async () => {
  const c = collector();
  assert.equal(await runPolicySimulate({ changes: '', policy: 'config/policy.yaml', out: c.out }), 2);
  assert.match(c.text(), /^usage: approval-hub policy simulate --changes FILE\.jsonl/);
});
