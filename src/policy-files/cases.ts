// Policy cases: YAML files that say "this change, under this policy, gets this tier, these steps and
// this outcome", optionally followed by decisions, ticks and transitions with their own expectations.
// `approval-hub policy test DIR` runs every *.yaml in DIR (except directory.yaml) through the engine.
import { access, readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve, basename, relative } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { decide } from '../core/engine.ts';
import { parseChangeInput } from '../core/change-schema.ts';
import type { Change, ChangeState, Command, Decision, Directory, Effect, History } from '../core/types.ts';
import type { CompiledPolicy } from '../core/policy/types.ts';
import { loadPolicy, formatPolicyErrors } from './load.ts';
import { loadDirectory } from '../pipeline/directory.ts';

export interface CaseResult {
  file: string;
  name: string;
  ok: boolean;
  failures: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const DEFAULT_HISTORY: History = { incidentRate: 0, similarCount: 0, teamChangesLast7d: 0, medianTeamChangesPerWeek: 0 };

interface Expect {
  state?: string;
  tier?: string;
  score?: number;
  factors?: string[];
  anomaly?: boolean;
  steps?: string[];
  eligible?: string[];
  refused?: string;
  reason?: string;
  gate?: 'approved' | 'rejected';
  effects?: string[];
  noEffects?: string[];
  escalatedTo?: string[];
  justification?: string;
  decisionKind?: string;
  transitions?: string[];
}

/** Every expectation a case or a step may state; anything else is a typo that would otherwise pass silently. */
const EXPECT_KEYS = ['state', 'tier', 'score', 'factors', 'anomaly', 'steps', 'eligible', 'refused', 'reason', 'gate', 'effects', 'noEffects', 'escalatedTo', 'justification', 'decisionKind', 'transitions', 'invalid'] as const satisfies readonly (keyof Expect | 'invalid')[];
const CASE_KEYS = ['name', 'id', 'now', 'history', 'change', 'expect', 'then'];
const STEP_KEYS = ['decide', 'tick', 'transition', 'update', 'pir-signoff', 'at', 'history', 'expect'];

/**
 * Names the keys of case i (its own, its expect, its steps' and their expects) that the runner does not
 * know, as `file:line: path: reason`.
 */
function unknownKeys(c: Obj, i: number, doc: Document, lines: LineCounter, file: string): string[] {
  const problems: string[] = [];
  const scan = (value: unknown, path: (string | number)[], known: readonly string[], what: string) => {
    if (!isObj(value)) return;
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      // The key's own line: its value may start on the next one, or be missing.
      const parent = doc.getIn(path, true);
      const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && p.key.value === key) : undefined;
      const range = (isScalar(pair?.key) ? pair.key.range : undefined) ?? (isMap(parent) ? parent.range : undefined);
      const line = range ? `:${lines.linePos(range[0]).line}` : '';
      const at = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').slice(1);
      problems.push(`${file}${line}: ${at}.${key}: unknown ${what} (known: ${known.join(', ')})`);
    }
  };
  const base = ['cases', i];
  scan(c, base, CASE_KEYS, 'case key');
  scan(c.expect, [...base, 'expect'], EXPECT_KEYS, 'expectation');
  if (Array.isArray(c.then)) {
    c.then.forEach((s, j) => {
      scan(s, [...base, 'then', j], STEP_KEYS, 'step key');
      if (isObj(s)) scan(s.expect, [...base, 'then', j, 'expect'], EXPECT_KEYS, 'expectation');
    });
  }
  return problems;
}

/** Checks one engine result against the expectations; returns human-readable failures. */
function check(exp: Expect, result: ReturnType<typeof decide>, change: Change | null, where: string): string[] {
  const f: string[] = [];
  const want = (label: string, expected: unknown, actual: unknown) => {
    if (JSON.stringify(expected) !== JSON.stringify(actual)) f.push(`${where}: ${label}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  };
  if (exp.refused !== undefined) {
    if (result.ok) f.push(`${where}: expected the command to be refused (${exp.refused}), but it was accepted`);
    else {
      want('refusal code', exp.refused, result.code);
      if (exp.reason && !result.reason.includes(exp.reason)) f.push(`${where}: refusal reason should mention ${JSON.stringify(exp.reason)}, got ${JSON.stringify(result.reason)}`);
    }
    return f;
  }
  if (!result.ok) return [`${where}: refused (${result.code}): ${result.reason}`];
  const c = change!;
  const effects: Effect[] = result.effects;
  if (exp.state !== undefined) want('state', exp.state, c.state);
  if (exp.tier !== undefined) want('tier', exp.tier, c.risk?.tier);
  if (exp.score !== undefined) want('score', exp.score, c.risk?.score);
  if (exp.factors !== undefined) want('factors', [...exp.factors].sort(), (c.risk?.factors ?? []).map((x) => x.id).sort());
  if (exp.anomaly !== undefined) want('anomaly', exp.anomaly, c.risk?.anomaly?.flagged ?? false);
  if (exp.steps !== undefined) want('steps', exp.steps, c.steps.map((s) => s.name));
  if (exp.eligible !== undefined) {
    const open = c.steps.find((s) => s.state === 'open');
    want('eligible approvers of the open step', [...exp.eligible].sort(), open ? [...open.eligible].sort() : null);
  }
  const gate = effects.find((e): e is Extract<Effect, { type: 'answer-gate' }> => e.type === 'answer-gate');
  if (exp.gate !== undefined) want('gate answer', exp.gate, gate?.outcome ?? null);
  if (exp.reason !== undefined) {
    const texts = [gate?.reason, ...effects.filter((e) => e.type === 'announce' || e.type === 'rollback').map((e) => ('message' in e ? e.message : e.reason)), ...result.transitions.map((t) => t.rationale)];
    if (!texts.some((t) => t?.includes(exp.reason!))) f.push(`${where}: expected a reason mentioning ${JSON.stringify(exp.reason)}; got ${JSON.stringify(texts.filter(Boolean))}`);
  }
  for (const t of exp.effects ?? []) if (!effects.some((e) => e.type === t)) f.push(`${where}: expected a ${t} effect; got ${effects.map((e) => e.type).join(', ') || 'none'}`);
  for (const t of exp.noEffects ?? []) if (effects.some((e) => e.type === t)) f.push(`${where}: expected no ${t} effect`);
  if (exp.escalatedTo !== undefined) {
    const to = effects.filter((e): e is Extract<Effect, { type: 'escalate' }> => e.type === 'escalate').flatMap((e) => e.to);
    want('escalated to', [...exp.escalatedTo].sort(), [...new Set(to)].sort());
  }
  if (exp.justification !== undefined && !(c.justification ?? '').includes(exp.justification)) f.push(`${where}: justification should mention ${JSON.stringify(exp.justification)}, got ${JSON.stringify(c.justification)}`);
  if (exp.decisionKind !== undefined) want('kind of the last decision', exp.decisionKind, c.decisions[c.decisions.length - 1]?.kind ?? null);
  for (const a of exp.transitions ?? []) if (!result.transitions.some((t) => t.action === a)) f.push(`${where}: expected an audit entry ${a}; got ${result.transitions.map((t) => t.action).join(', ')}`);
  return f;
}

function commandOf(step: Obj, change: Change, at: Date): { command: Command; label: string } | string {
  if (isObj(step.decide)) {
    const d = step.decide;
    const decision: Decision = {
      outcome: d.outcome === 'reject' ? 'reject' : 'approve',
      actor: String(d.actor),
      rationale: typeof d.rationale === 'string' ? d.rationale : null,
      sourceTool: typeof d.sourceTool === 'string' ? d.sourceTool : 'servicenow',
      at: at.toISOString(),
      onBehalfOf: typeof d.onBehalfOf === 'string' ? d.onBehalfOf : null,
      stepId: typeof d.stepId === 'string' ? d.stepId : null,
      kind: d.kind === 'override' || d.kind === 'risk-acceptance' ? d.kind : 'normal',
      expiresAt: typeof d.expiresAt === 'string' ? d.expiresAt : null,
    };
    return { command: { type: 'decide', decision }, label: `${decision.outcome} by ${decision.actor}` };
  }
  if (step.tick !== undefined) return { command: { type: 'tick' }, label: 'tick' };
  if (isObj(step.transition)) {
    const t = step.transition;
    return { command: { type: 'transition', to: t.to as ChangeState, actor: String(t.actor ?? change.requester), sourceTool: 'github', rationale: typeof t.rationale === 'string' ? t.rationale : null }, label: `transition to ${String(t.to)}` };
  }
  if (isObj(step.update)) return { command: { type: 'update', fields: step.update as Partial<Change>, actor: change.requester, sourceTool: 'github' }, label: 'update' };
  if (isObj(step['pir-signoff'])) {
    const p = step['pir-signoff'];
    return { command: { type: 'pir-signoff', actor: String(p.actor), notes: typeof p.notes === 'string' ? p.notes : null, sourceTool: 'servicenow' }, label: `review sign-off by ${String(p.actor)}` };
  }
  return 'a step needs one of: decide, tick, transition, update, pir-signoff';
}

/** Runs one case (pure apart from nothing: the policy and directory are already loaded). */
export function runCase(raw: Obj, policy: CompiledPolicy, directory: Directory): string[] {
  const now = new Date(String(raw.now ?? '2026-11-24T09:00:00Z'));
  if (Number.isNaN(now.getTime())) return [`now: not an ISO time: ${String(raw.now)}`];
  const history: History = { ...DEFAULT_HISTORY, ...(isObj(raw.history) ? (raw.history as Partial<History>) : {}) };
  const input = parseChangeInput(raw.change, { id: String(raw.id ?? 'case'), now });
  const invalid = isObj(raw.expect) && Array.isArray(raw.expect.invalid) ? (raw.expect.invalid as string[]) : null;
  if (invalid) {
    // A case about the inbound change model: the input must be refused with these problems.
    if (input.ok) return ['expected the change to be refused as invalid, but it was accepted'];
    const lines = input.errors.map((e) => `${e.path}: ${e.message}`);
    return invalid.filter((want) => !lines.some((l) => l.includes(want))).map((want) => `expected a problem containing ${JSON.stringify(want)}; got ${JSON.stringify(lines)}`);
  }
  if (!input.ok) return input.errors.map((e) => `change.${e.path}: ${e.message}`);
  let result = decide(null, { type: 'submit', change: input.change, actor: input.change.requester, sourceTool: 'github' }, { policy, directory, history, now });
  let change = result.ok ? result.change : null;
  const failures = check((raw.expect ?? {}) as Expect, result, change, 'submit');
  const steps = Array.isArray(raw.then) ? raw.then : [];
  for (const [i, s] of steps.entries()) {
    if (!isObj(s)) { failures.push(`then[${i}]: expected a mapping`); break; }
    if (!change) { failures.push(`then[${i}]: the change was refused at submit; nothing to continue`); break; }
    const at = s.at ? new Date(String(s.at)) : now;
    if (Number.isNaN(at.getTime())) { failures.push(`then[${i}].at: not an ISO time`); break; }
    const cmd = commandOf(s, change, at);
    if (typeof cmd === 'string') { failures.push(`then[${i}]: ${cmd}`); break; }
    const h = isObj(s.history) ? { ...history, ...(s.history as Partial<History>) } : history;
    result = decide(change, cmd.command, { policy, directory, history: h, now: at });
    failures.push(...check((s.expect ?? {}) as Expect, result, result.ok ? result.change : change, `then[${i}] ${cmd.label}`));
    if (result.ok) change = result.change;
  }
  return failures;
}

interface CaseFile {
  policy?: string;
  overlays?: string[];
  directory?: string;
  cases?: unknown[];
  /** A policy that must fail to load, with the messages it must produce. */
  loadErrors?: { policy: string; overlays?: string[]; expect: string[] }[];
}

export interface RunCasesOptions {
  /** Central policy; a case file's own `policy:` wins. Default: ../policy.yaml next to DIR. */
  policy?: string;
  overlays?: string[];
}

/** Loads and runs every case file of a folder. */
export async function runCaseDir(dir: string, opts: RunCasesOptions = {}): Promise<{ results: CaseResult[]; errors: string[] }> {
  const results: CaseResult[] = [];
  const errors: string[] = [];
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n) && n !== 'directory.yaml').sort();
  } catch (err) {
    return { results, errors: [`${dir}: cannot read the folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`] };
  }
  if (names.length === 0) return { results, errors: [`${dir}: no case files (*.yaml)`] };
  const dirDirectory = join(dir, 'directory.yaml');
  // A failure is cached too: every case file sharing a missing directory would otherwise repeat it.
  const cache = new Map<string, Promise<Directory>>();
  const reported = new Set<string>();
  const directoryAt = (path: string) => {
    if (!cache.has(path)) cache.set(path, loadDirectory(path));
    return cache.get(path)!;
  };
  for (const name of names) {
    const file = join(dir, name);
    const lines = new LineCounter();
    const doc = parseDocument(await readFile(file, 'utf8'), { lineCounter: lines, prettyErrors: false });
    if (doc.errors.length) { errors.push(`${file}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`); continue; }
    const parsed = doc.toJS() as unknown;
    if (!isObj(parsed)) { errors.push(`${file}: expected a mapping with cases`); continue; }
    const cf = parsed as CaseFile;
    const base = dirname(file);
    // Paths relative to where the command runs, so messages read like config/policy.yaml:12.
    const at = (p: string) => relative(process.cwd(), resolve(base, p)) || '.';
    let directory: Directory;
    const directoryPath = cf.directory ? at(cf.directory) : dirDirectory;
    try {
      directory = await directoryAt(directoryPath);
    } catch (err) {
      if (reported.has(directoryPath)) continue;
      reported.add(directoryPath);
      const missing = await access(directoryPath).then(() => false, (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
      errors.push(missing
        ? `${directoryPath}: no such file; the cases need the directory of people their approvers come from (put directory.yaml in ${dir}, or name one with \`directory:\` in the case file)`
        : (err as Error).message);
      continue;
    }
    for (const le of cf.loadErrors ?? []) {
      const label = `refuses ${le.policy}${le.overlays?.length ? ` + ${le.overlays.join(', ')}` : ''}`;
      const r = await loadPolicy(at(le.policy), { overlays: (le.overlays ?? []).map(at), directory });
      const failures: string[] = [];
      if (r.ok) failures.push('the policy loaded, but it should have been refused');
      else {
        const lines = formatPolicyErrors(r.errors);
        for (const e of le.expect) if (!lines.some((l) => l.includes(e))) failures.push(`expected an error containing ${JSON.stringify(e)}; got:\n      ${lines.join('\n      ')}`);
      }
      results.push({ file: name, name: label, ok: failures.length === 0, failures });
    }
    if (!cf.cases?.length) continue;
    const policyPath = cf.policy ? at(cf.policy) : (opts.policy ?? join(dir, '..', 'policy.yaml'));
    const overlays = cf.overlays ? cf.overlays.map(at) : (opts.overlays ?? []);
    const loaded = await loadPolicy(policyPath, { overlays, directory });
    if (!loaded.ok) {
      errors.push(...formatPolicyErrors(loaded.errors));
      continue;
    }
    cf.cases.forEach((c, i) => {
      const caseName = isObj(c) && typeof c.name === 'string' ? c.name : `case ${i + 1}`;
      const unknown = isObj(c) ? unknownKeys(c, i, doc, lines, file) : [];
      if (unknown.length) { errors.push(...unknown); return; }
      const failures = isObj(c) ? runCase(c, loaded.policy, directory) : ['expected a mapping'];
      results.push({ file: basename(file), name: caseName, ok: failures.length === 0, failures });
    });
  }
  return { results, errors };
}
