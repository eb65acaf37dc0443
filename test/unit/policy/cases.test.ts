// The policy cases shipped in config/policy-cases are the acceptance test of config/policy.yaml: every
// one must pass, and there must be cases for every numbered rule of the policy issue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { runCaseDir } from '../../../src/policy-files/cases.ts';

test('every shipped policy case passes', async () => {
  const { results, errors } = await runCaseDir('config/policy-cases');
  assert.deepEqual(errors, []);
  const failed = results.filter((r) => !r.ok).map((r) => `${r.file} › ${r.name}\n  ${r.failures.join('\n  ')}`);
  assert.deepEqual(failed, []);
  assert.ok(results.length >= 60, `expected the full case suite, found ${results.length} cases`);
});

test('there is a case file for each rule of the policy', () => {
  const files = readdirSync('config/policy-cases').filter((f) => f.endsWith('.yaml'));
  for (const prefix of ['01-change-model', '02-lifecycle', '03-risk', '04-approval-plans', '05-prerequisites', '06-escalation-delegation', '07-emergency', '08-federation', '09-load-errors']) {
    assert.ok(files.some((f) => f.startsWith(prefix)), `missing ${prefix}*.yaml`);
  }
});
