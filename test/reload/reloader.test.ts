// The reloader on real files: an operator edits the policy or the directory the way editors save (write a
// temporary file, rename it over the old one) or sends SIGHUP; a valid edit is put in force, a broken one
// is refused with file:line reasons and the previous version keeps running.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, test } from 'node:test';
import type { CompiledPolicy } from '../../src/core/policy/types.ts';
import { createLogger } from '../../src/log.ts';
import { formatPolicyErrors, loadPolicy } from '../../src/policy-files/load.ts';
import { createReloader, liveConnections, type Reloader, type ReloadStatus } from '../../src/pipeline/reload.ts';

const repo = join(import.meta.dirname, '..', '..');

/** A copy of the repository's policy and directory in a fresh folder. */
function policyFolder(): { policy: string; directory: string } {
  const dir = mkdtempSync(join(tmpdir(), 'reload-'));
  const policy = join(dir, 'policy.yaml');
  const directory = join(dir, 'directory.yaml');
  copyFileSync(join(repo, 'config', 'policy.yaml'), policy);
  copyFileSync(join(repo, 'config', 'directory.yaml'), directory);
  return { policy, directory };
}

/** Saves the way editors do: a temporary file renamed over the original (the old inode goes away). */
function saveLikeAnEditor(file: string, text: string): void {
  const tmp = `${file}.swp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

function edit(file: string, from: string, to: string): void {
  const text = readFileSync(file, 'utf8');
  assert.ok(text.includes(from), `${file} should contain ${from}`);
  saveLikeAnEditor(file, text.replace(from, to));
}

function capturedLog() {
  let text = '';
  const log = createLogger({ level: 'debug', destination: new Writable({ write(chunk: Buffer, _e, cb) { text += chunk.toString(); cb(); } }) });
  return { log, lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function policyReloader(files: { policy: string; directory: string }, log: ReturnType<typeof capturedLog>['log'], onApply: (p: CompiledPolicy) => void, opts: { signal?: NodeJS.Signals; watch?: boolean } = {}): Reloader {
  return createReloader<CompiledPolicy>({
    files: () => (opts.watch === false ? [] : [files.policy, files.directory]),
    load: async () => {
      const r = await loadPolicy(files.policy, { directory: files.directory });
      return r.ok ? { ok: true, value: r.policy } : { ok: false, errors: formatPolicyErrors(r.errors) };
    },
    apply: onApply,
    log,
    debounceMs: 20,
    signal: opts.signal ?? null,
  });
}

const tier = (p: CompiledPolicy, name: string) => p.tiers.find((t) => t.name === name)?.min;

/** Resolves with the next status after a reload attempt, however it was triggered. */
function nextAttempt(r: Reloader, previous: ReloadStatus): Promise<ReloadStatus> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      const s = r.status();
      if (s !== previous) {
        clearInterval(poll);
        resolve(s);
      }
    }, 10);
  });
}

describe('reloading the policy and directory files', () => {
  const running: Reloader[] = [];
  afterEach(() => {
    for (const r of running.splice(0)) r.stop();
  });

  test('an edited tier threshold saved by an editor is picked up by the folder watch', async () => {
    const files = policyFolder();
    const { log, lines } = capturedLog();
    const inForce = await loadPolicy(files.policy, { directory: files.directory });
    assert.ok(inForce.ok);
    let current = inForce.policy;
    const applied = new Promise<void>((resolve) => {
      const r = policyReloader(files, log, (p) => { current = p; resolve(); });
      running.push(r);
      r.start();
    });
    assert.equal(tier(current, 'high'), 60);
    edit(files.policy, 'tiers: { low: 0, medium: 30, high: 60 }', 'tiers: { low: 0, medium: 30, high: 50 }');
    await applied;
    assert.equal(tier(current, 'high'), 50);
    assert.equal(running[0]!.status().ok, true);
    assert.ok(lines().some((l) => l.msg === 'reload applied: policy, directory and mappings now in force'));
  });

  test('a CEL syntax error is refused with file and line; the previous policy stays in force', async () => {
    const files = policyFolder();
    const { log, lines } = capturedLog();
    const first = await loadPolicy(files.policy, { directory: files.directory });
    assert.ok(first.ok);
    let current = first.policy;
    let applies = 0;
    const r = policyReloader(files, log, (p) => { current = p; applies++; });
    running.push(r);
    const before = r.status();
    r.start();
    const attempt = nextAttempt(r, before);
    // Line 10 of config/policy.yaml is the production factor.
    edit(files.policy, `when: "change.environment == 'production'", points: 30`, `when: "change.environment == = 'production'", points: 30`);
    const status = await attempt;
    assert.equal(status.ok, false);
    if (status.ok) return;
    assert.match(status.message, /^reload refused: 1 problem in the edited files; the version loaded at .* stays in force$/);
    assert.equal(status.inForceSince, before.inForceSince);
    assert.equal(status.errors.length, 1);
    assert.match(status.errors[0]!, new RegExp(`^${files.policy.replace(/[.]/g, '\\.')}:10: risk\\.factors\\[0\\]\\.when: `));
    assert.equal(applies, 0);
    assert.equal(current, first.policy, 'the policy loaded at start is still the one in force');
    const refusal = lines().find((l) => typeof l.msg === 'string' && l.msg.startsWith('reload refused'));
    assert.ok(refusal, 'the refusal is logged');
    assert.equal(refusal.level, 50);
    assert.deepEqual(refusal.errors, status.errors);
  });

  test('an edit that fixes the refused file is applied and clears the refusal', async () => {
    const files = policyFolder();
    const { log } = capturedLog();
    let current: CompiledPolicy | null = null;
    const r = policyReloader(files, log, (p) => { current = p; });
    running.push(r);
    const original = readFileSync(files.policy, 'utf8');
    saveLikeAnEditor(files.policy, original.replace('high: 60 }', 'high: sixty }'));
    const refused = await r.reloadNow();
    assert.equal(refused.ok, false);
    assert.equal(current, null);
    saveLikeAnEditor(files.policy, original.replace('high: 60 }', 'high: 70 }'));
    const applied = await r.reloadNow();
    assert.equal(applied.ok, true);
    assert.equal(tier(current!, 'high'), 70);
  });

  test('a directory edit with an unknown time zone is refused at its line in the directory file', async () => {
    const files = policyFolder();
    const { log } = capturedLog();
    let applies = 0;
    const r = policyReloader(files, log, () => { applies++; });
    running.push(r);
    // The directory is checked on its own first: a time zone that does not exist is refused at its line.
    const text = readFileSync(files.directory, 'utf8');
    const zone = /timeZone: ([A-Za-z_/]+)/.exec(text)![1]!;
    saveLikeAnEditor(files.directory, text.replace(`timeZone: ${zone}`, 'timeZone: Mars/Olympus_Mons'));
    const status = await r.reloadNow();
    assert.equal(status.ok, false);
    if (status.ok) return;
    assert.match(status.errors.join('\n'), /directory\.yaml:\d+: people\[\d+\]\.timeZone: unknown IANA time zone "Mars\/Olympus_Mons"/);
    assert.equal(applies, 0);
  });

  test('SIGHUP reloads without any file event', async () => {
    const files = policyFolder();
    const { log, lines } = capturedLog();
    let current: CompiledPolicy | null = null;
    // No folder watch, so only the signal can cause the reload.
    const r = policyReloader(files, log, (p) => { current = p; }, { signal: 'SIGHUP', watch: false });
    running.push(r);
    r.start();
    const before = r.status();
    writeFileSync(files.policy, readFileSync(files.policy, 'utf8').replace('high: 60 }', 'high: 65 }'));
    const attempt = nextAttempt(r, before);
    process.emit('SIGHUP', 'SIGHUP');
    const status = await attempt;
    assert.equal(status.ok, true);
    assert.equal(tier(current!, 'high'), 65);
    assert.ok(lines().some((l) => l.msg === 'reload requested by signal' && l.signal === 'SIGHUP'));
    r.stop();
    assert.equal(process.listenerCount('SIGHUP'), 0, 'stop() removes the signal listener');
  });

  test('reloads asked for at the same time run one after another, each applying a whole version', async () => {
    const files = policyFolder();
    const { log } = capturedLog();
    const seen: number[] = [];
    const r = policyReloader(files, log, (p) => { seen.push(tier(p, 'high')!); });
    running.push(r);
    const results = await Promise.all([r.reloadNow(), r.reloadNow(), r.reloadNow()]);
    assert.deepEqual(results.map((s) => s.ok), [true, true, true]);
    assert.deepEqual(seen, [60, 60, 60]);
  });
});

describe('the live view of the connections in force', () => {
  test('reconciliation\'s map reads whichever connections were swapped in last', () => {
    let current = new Map([['servicenow', 'v1']]);
    const view = liveConnections(() => current);
    assert.equal(view.get('servicenow'), 'v1');
    current = new Map([['servicenow', 'v2'], ['jira', 'v2']]);
    assert.equal(view.get('servicenow'), 'v2');
    assert.equal(view.has('jira'), true);
    assert.equal(view.size, 2);
    assert.deepEqual([...view.keys()], ['servicenow', 'jira']);
  });
});
