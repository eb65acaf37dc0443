// The directory file: the shipped one loads and knows everyone the policy names; a mistake is refused
// with the file, the line and the place inside it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadDirectory, parseDirectory } from '../../src/pipeline/directory.ts';
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
    assert.throws(() => parseDirectory(text, 'directory.yaml'), /^DirectoryFileError: directory.yaml:3 people\[0\].timeZone: unknown IANA time zone "Europe\/Londn"$/);
  });

  it('refuses a manager who is not in the directory', () => {
    const text = 'people:\n  - id: a@acme.example\n    manager: ghost@acme.example\n';
    assert.throws(() => parseDirectory(text, 'directory.yaml'), /directory.yaml:3 people\[0\].manager: ghost@acme.example is not in the directory/);
  });

  it('refuses YAML that does not parse, with its line', () => {
    assert.throws(() => parseDirectory('people:\n  - id: [a\n', 'directory.yaml'), /^DirectoryFileError: directory.yaml:\d+: not valid YAML/);
  });
});
