// Loading a policy: every problem is reported with file, line, the path inside the file and, for CEL,
// the expression; overlays may add or tighten and are refused when they loosen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePolicyYaml, loadPolicy, formatPolicyErrors } from '../../../src/policy-files/load.ts';
import { compilePolicy, applyOverlay } from '../../../src/core/policy/compile.ts';
import { parseDirectory } from '../../../src/pipeline/directory.ts';
import { readFileSync } from 'node:fs';

const directory = parseDirectory(readFileSync('config/policy-cases/directory.yaml', 'utf8'), 'directory.yaml');

function compileText(text: string, file = 'policy.yaml') {
  const parsed = parsePolicyYaml(text, file);
  assert.ok(parsed.ok);
  return compilePolicy(parsed.doc, parsed.source, { directory });
}

function errorsOf(text: string): string[] {
  const r = compileText(text);
  assert.ok(!r.ok, 'expected the policy to be refused');
  return formatPolicyErrors(r.errors);
}

const HEAD = `risk:
  factors:
    - { id: production, when: "change.environment == 'production'", points: 30 }
  tiers: { low: 0, high: 30 }
`;

test('the shipped policy and overlays load against the shipped directory', async () => {
  const r = await loadPolicy('config/policy.yaml', { overlays: ['config/policy-overlays/team-payments.yaml', 'config/policy-overlays/region-eu.yaml'], directory: 'config/directory.yaml' });
  assert.ok(r.ok, r.ok ? '' : formatPolicyErrors(r.errors).join('\n'));
  assert.deepEqual(r.policy.files, ['config/policy.yaml', 'config/policy-overlays/team-payments.yaml', 'config/policy-overlays/region-eu.yaml']);
  assert.deepEqual(r.policy.overlays.map((o) => [o.id, o.appliesTo]), [['team-payments', "change.team == 'payments'"], ['region-eu', null]]);
});

test('an unknown field in CEL is reported with file, line, path and the expression', () => {
  assert.deepEqual(errorsOf(`${HEAD}routes:
  - id: prod
    when: "change.enviroment == 'production'"
    steps: []
`), [`policy.yaml:7: routes[0].when: unknown field 'change.enviroment' (did you mean 'change.environment'?) in "change.enviroment == 'production'"`]);
});

test('a nested unknown field and an unknown variable are named in full', () => {
  assert.deepEqual(errorsOf(`${HEAD}routes:
  - { id: a, when: "change.rollback.plam == 'x'", steps: [] }
  - { id: b, when: "chnge.team == 'x'", steps: [] }
`), [
    `policy.yaml:6: routes[0].when: unknown field 'change.rollback.plam' in "change.rollback.plam == 'x'"`,
    `policy.yaml:7: routes[1].when: unknown variable 'chnge' (conditions may use change, history, window, risk) in "chnge.team == 'x'"`,
  ]);
});

test('a CEL syntax error is reported at load', () => {
  const [line] = errorsOf(`${HEAD}routes:
  - { id: a, when: "risk.tier == ", steps: [] }
`);
  assert.equal(line, `policy.yaml:6: routes[0].when: CEL syntax error: Unexpected token: EOF in "risk.tier == "`);
});

test('unknown groups, roles, people and on-call schedules are errors when a directory is given', () => {
  const text = `${HEAD}routes:
  - id: a
    when: "true"
    steps:
      - { name: A, approvers: { group: nobody-here } }
      - { name: B, approvers: { role: wizard, team: "change.team" } }
      - { name: C, approvers: { people: [ghost@acme.example] } }
      - { name: D, approvers: { oncall: weekend } }
`;
  assert.deepEqual(errorsOf(text), [
    "policy.yaml:9: routes[0].steps[0].approvers.group: unknown group 'nobody-here': nobody in the directory belongs to it",
    "policy.yaml:10: routes[0].steps[1].approvers.role: unknown role 'wizard': nobody in the directory holds it",
    "policy.yaml:11: routes[0].steps[2].approvers.people[0]: unknown person 'ghost@acme.example': not in the directory",
    "policy.yaml:12: routes[0].steps[3].approvers.oncall: unknown on-call schedule 'weekend'",
  ]);
  // Without a directory the names cannot be checked, and the policy loads.
  const parsed = parsePolicyYaml(text, 'policy.yaml');
  assert.ok(parsed.ok);
  assert.equal(compilePolicy(parsed.doc, parsed.source).ok, true);
});

test('YAML syntax errors carry their line', () => {
  const parsed = parsePolicyYaml('risk:\n  factors: [\n', 'broken.yaml');
  assert.ok(!parsed.ok);
  assert.match(formatPolicyErrors(parsed.errors)[0]!, /^broken\.yaml:\d+: \(yaml\): not valid YAML: /);
});

test('a missing file is a load error, not an exception', async () => {
  const r = await loadPolicy('config/does-not-exist.yaml');
  assert.ok(!r.ok);
  assert.deepEqual(formatPolicyErrors(r.errors), ['config/does-not-exist.yaml: (file): file not found']);
});

test('overlays that loosen are refused with the overlay\'s own file and line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-overlay-'));
  try {
    const central = join(dir, 'policy.yaml');
    writeFileSync(central, `${HEAD}prerequisites:
  - { id: plan, require: "has(change.artifacts.rollbackPlan)", onFail: reject }
routes: []
expiry: { approval: 24h }
`);
    const overlay = join(dir, 'team.yaml');
    writeFileSync(overlay, `overlay: { id: team, appliesTo: "change.team == 'web'" }
prerequisites:
  - { id: plan, require: "has(change.artifacts.rollbackPlan)", onFail: block }
risk:
  factors:
    - { id: production, when: "change.environment == 'production'", points: 10 }
`);
    const r = await loadPolicy(central, { overlays: [overlay] });
    assert.ok(!r.ok);
    assert.deepEqual(formatPolicyErrors(r.errors).map((l) => l.replace(dir, 'DIR')), [
      "DIR/team.yaml:3: prerequisites[0].onFail: loosens the central policy: prerequisite 'plan' rejects centrally; block would let the change wait instead; an overlay may add or tighten rules, never loosen them",
      "DIR/team.yaml:6: risk.factors[0].points: loosens the central policy: factor 'production' would count 10 points instead of 30; an overlay may add or tighten rules, never loosen them",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an overlay\'s added rules apply only where appliesTo holds', () => {
  const base = compileText(`${HEAD}routes: []\n`);
  assert.ok(base.ok);
  const parsed = parsePolicyYaml(`overlay: { id: web, appliesTo: "change.team == 'web'" }
risk:
  factors:
    - { id: production, when: "change.environment == 'production'", points: 50 }
`, 'web.yaml');
  assert.ok(parsed.ok);
  const r = applyOverlay(base.policy, parsed.doc, parsed.source);
  assert.ok(r.ok);
  const raised = r.policy.factors.filter((f) => f.id === 'production');
  assert.equal(raised.length, 2);
  const ctx = (team: string) => ({ change: { environment: 'production', team, services: [], ciClasses: [], ciNames: [], rollback: {}, artifacts: {}, labels: {} }, history: {}, window: {} });
  assert.equal(raised[1]!.points, 20, 'the overlay adds the difference on top of the central 30');
  assert.equal(raised[1]!.when.test(ctx('web')), true);
  assert.equal(raised[1]!.when.test(ctx('api')), false);
});

test('a duplicate id is reported at the duplicate, even next to a broken rule', () => {
  assert.deepEqual(errorsOf(`risk:
  factors:
    - { id: a, when: "nope(", points: 1 }
    - { id: b, when: "true", points: 1 }
    - { id: b, when: "true", points: 2 }
  tiers: { low: 0 }
routes: []
`), [
    'policy.yaml:3: risk.factors[0].when: CEL syntax error: Unexpected token: EOF in "nope("',
    "policy.yaml:5: risk.factors[2].id: duplicate factor id 'b'",
  ]);
});

test('each planned step records the policy rule (file:line) that required it', async () => {
  const { decide } = await import('../../../src/core/engine.ts');
  const { parseChangeInput } = await import('../../../src/core/change-schema.ts');
  const loaded = await loadPolicy('config/policy.yaml', { directory });
  assert.ok(loaded.ok);
  const now = new Date('2026-11-24T09:00:00Z');
  const input = parseChangeInput({ title: 'Bump', environment: 'staging', requester: 'dev.okafor@acme.example', team: 'payments' }, { id: 'c', now });
  assert.ok(input.ok);
  const r = decide(null, { type: 'submit', change: input.change, actor: 'dev.okafor@acme.example', sourceTool: 'github' }, { policy: loaded.policy, directory, history: { incidentRate: 0, similarCount: 0, teamChangesLast7d: 0, medianTeamChangesPerWeek: 0 }, now });
  assert.ok(r.ok);
  const plan = r.transitions.find((t) => t.action === 'plan-built')!.after as { steps: { name: string; rule: string }[] };
  const line = readFileSync('config/policy.yaml', 'utf8').split('\n').findIndex((l) => l.includes('name: Peer approval')) + 1;
  assert.deepEqual(plan.steps.map((s) => [s.name, s.rule]), [['Peer approval', `config/policy.yaml:${line}`]]);
});
