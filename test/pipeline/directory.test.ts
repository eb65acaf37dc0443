// The directory file: the shipped one loads and knows everyone the policy names; a mistake is refused
// with the file, the line and the place inside it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadDirectory, parseDirectory, personFor } from '../../src/pipeline/directory.ts';
import { loadPolicy } from '../../src/policy-files/load.ts';

const repo = join(import.meta.dirname, '..', '..');

describe('directory file', () => {
  it('ships a directory that the shipped policy accepts, with managers, on-call and out-of-office delegates', async () => {
    const dir = await loadDirectory(join(repo, 'config', 'directory.yaml'));
    assert.equal(dir.people['dev.okafor@acme.example']?.manager, 'priya.natarajan@acme.example');
    assert.deepEqual(dir.oncall.ops, ['rafael.souza@acme.example']);
    assert.equal(dir.people['grace.kim@acme.example']?.outOfOffice?.delegate, 'tomas.novak@acme.example');
    assert.equal(dir.people['chris.doyle@acme.example']?.active, false);
    const policy = await loadPolicy(join(repo, 'config', 'policy.yaml'), { directory: dir });
    assert.equal(policy.ok, true, policy.ok ? '' : JSON.stringify(policy.errors));
  });

  it('names file, line and field for an unknown time zone', () => {
    const text = 'people:\n  - id: a@acme.example\n    timeZone: Europe/Londn\n';
    assert.throws(() => parseDirectory(text, 'directory.yaml'), /^DirectoryFileError: directory.yaml:3: people\[0\].timeZone: unknown IANA time zone "Europe\/Londn"$/);
  });

  it('refuses a manager who is not in the directory', () => {
    const text = 'people:\n  - id: a@acme.example\n    manager: ghost@acme.example\n';
    assert.throws(() => parseDirectory(text, 'directory.yaml'), /directory.yaml:3: people\[0\].manager: ghost@acme.example is not in the directory/);
  });

  it('names a person by the account a tool knows them by (Atlassian account id, ServiceNow user name, GitHub login)', async () => {
    const dir = await loadDirectory(join(repo, 'config', 'directory.yaml'));
    assert.equal(personFor(dir, 'jira', '712020:5f9a3c2e-7d41-4b8e-9a1c-2e6f0b7d4c11'), 'priya.natarajan@acme.example');
    assert.equal(personFor(dir, 'servicenow', 'Priya.Natarajan'), 'priya.natarajan@acme.example', 'user names compare without case');
    assert.equal(personFor(dir, 'github', 'dokafor'), 'dev.okafor@acme.example');
    // An account is the tool's own: the GitHub login does not name anyone in Jira.
    assert.equal(personFor(dir, 'jira', 'dokafor'), 'dokafor');
    assert.equal(personFor(dir, 'jira', 'lena.fischer@acme.example'), 'lena.fischer@acme.example', 'a person id stays as is');
    assert.equal(personFor(dir, 'jira', '5b10ac8d82e05b22cc7d4ef5'), '5b10ac8d82e05b22cc7d4ef5', 'an account nobody claims stays as the tool sent it');
  });

  it('refuses an account listed for two people, naming the file, the line and who has it', () => {
    const text = [
      'people:',
      '  - id: a@acme.example',
      '    accounts: { jira: 5b10ac8d82e05b22cc7d4ef5 }',
      '  - id: b@acme.example',
      '    accounts:',
      '      servicenow: [b.user]',
      '      jira: 5B10AC8D82E05B22CC7D4EF5',
      '',
    ].join('\n');
    assert.throws(
      () => parseDirectory(text, 'directory.yaml'),
      /^DirectoryFileError: directory.yaml:7: people\[1\].accounts.jira: jira account "5B10AC8D82E05B22CC7D4EF5" is already a@acme.example's; one account names one person$/,
    );
  });

  it('refuses an account for a tool the hub does not know, listing the known ones', () => {
    const text = 'people:\n  - id: a@acme.example\n    accounts:\n      jria: 5b10ac8d82e05b22cc7d4ef5\n';
    assert.throws(() => parseDirectory(text, 'directory.yaml'), /^DirectoryFileError: directory.yaml:4: people\[0\].accounts.jria: unknown tool "jria" \(known: .*jira.*\)$/);
  });

  it('refuses an empty account name in a list, with its line', () => {
    const text = 'people:\n  - id: a@acme.example\n    accounts:\n      servicenow:\n        - a.user\n        - ""\n';
    assert.throws(() => parseDirectory(text, 'directory.yaml'), /^DirectoryFileError: directory.yaml:6: people\[0\].accounts.servicenow\[1\]: expected the person's servicenow account name/);
  });

  it('refuses YAML that does not parse, with its line', () => {
    assert.throws(() => parseDirectory('people:\n  - id: [a\n', 'directory.yaml'), /^DirectoryFileError: directory.yaml:\d+: not valid YAML/);
  });
});
