// Compiles a parsed policy document (and team/region overlays) into a CompiledPolicy, once, at load.
// Pure: takes the parsed YAML plus a line lookup and returns the policy or every problem found, each
// with file, line, path and (for CEL) the expression, so nothing starts on a broken policy.
import type { Approvers, Directory } from '../types.ts';
import { parseDuration, isTimeZone, clockMinutes, formatMinutes } from '../time.ts';
import { compileExpr, isProblem, type Scope } from './cel.ts';
import type {
  ApproverSelector, CompiledExpr, CompiledFactor, CompiledPolicy, CompiledPrerequisite, CompiledRoute, CompiledWindow,
  EscalationRung, EscalationTarget, Origin, PolicyError, PolicySource, StepTemplate,
} from './types.ts';

export interface CompileOptions {
  /** When given, every group, role, person and on-call schedule the policy names must exist in it. */
  directory?: Directory;
}

type Path = (string | number)[];
type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function pathText(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(top)';
}

interface Reference {
  kind: 'group' | 'role' | 'person' | 'oncall';
  name: string;
  path: Path;
}

/** Collects problems for one source file while walking its document. */
class Walker {
  errors: PolicyError[] = [];
  refs: Reference[] = [];
  readonly source: PolicySource;
  constructor(source: PolicySource) {
    this.source = source;
  }
  origin(path: Path): Origin {
    return { file: this.source.file, line: this.source.lineOf(path) };
  }
  fail(path: Path, message: string, expression?: string): void {
    const e: PolicyError = { file: this.source.file, line: this.source.lineOf(path), path: pathText(path), message };
    if (expression !== undefined) e.expression = expression;
    this.errors.push(e);
  }
  keys(obj: Obj, path: Path, allowed: readonly string[]): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) this.fail([...path, k], `unknown key '${k}' (expected one of: ${allowed.join(', ')})`);
    }
  }
  expr(value: unknown, path: Path, scope: Scope, expect: 'bool' | 'string' = 'bool'): CompiledExpr | null {
    const r = compileExpr(value, pathText(path), this.origin(path), scope, expect);
    if (isProblem(r)) {
      this.fail(path, r.message, typeof value === 'string' ? value : undefined);
      return null;
    }
    return r;
  }
  id(value: unknown, path: Path): string | null {
    if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(value)) {
      this.fail(path, `expected an id (letters, digits, - _ . :), got ${JSON.stringify(value) ?? 'nothing'}`);
      return null;
    }
    return value;
  }
  duration(value: unknown, path: Path): number | null {
    const m = parseDuration(value);
    if (m === null) this.fail(path, `expected a duration like 30m, 4h, 5d or 1w, got ${JSON.stringify(value) ?? 'nothing'}`);
    return m;
  }
  number(value: unknown, path: Path, min: number): number | null {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      this.fail(path, `expected a number ≥ ${min}, got ${JSON.stringify(value) ?? 'nothing'}`);
      return null;
    }
    return value;
  }
  list(value: unknown, path: Path): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.fail(path, 'expected a list');
      return [];
    }
    return value;
  }
}

const STEP_KEYS = ['name', 'approvers', 'quorum', 'sla', 'expiry', 'alternate'] as const;
const APPROVER_KEYS = ['group', 'role', 'team', 'manager', 'oncall', 'people'] as const;

function compileApprovers(w: Walker, raw: unknown, path: Path): { selector: ApproverSelector; record: Approvers } | null {
  if (!isObj(raw)) {
    w.fail(path, 'expected approvers: { group | role (+ team) | manager | oncall | people }');
    return null;
  }
  w.keys(raw, path, APPROVER_KEYS);
  const selector: ApproverSelector = {};
  const record: Approvers = {};
  if (raw.group !== undefined) {
    if (typeof raw.group !== 'string') w.fail([...path, 'group'], 'expected a group name');
    else { selector.group = raw.group; record.group = raw.group; w.refs.push({ kind: 'group', name: raw.group, path: [...path, 'group'] }); }
  }
  if (raw.role !== undefined) {
    if (typeof raw.role !== 'string') w.fail([...path, 'role'], 'expected a role name');
    else { selector.role = raw.role; record.role = raw.role; w.refs.push({ kind: 'role', name: raw.role, path: [...path, 'role'] }); }
  }
  if (raw.team !== undefined) {
    if (raw.role === undefined) w.fail([...path, 'team'], 'team narrows a role: give role as well');
    const e = w.expr(raw.team, [...path, 'team'], 'rule', 'string');
    if (e) { selector.team = e; record.team = e.source; }
  }
  if (raw.manager !== undefined) {
    if (raw.manager !== true) w.fail([...path, 'manager'], 'expected manager: true (the requester\'s manager)');
    else { selector.manager = true; record.manager = true; }
  }
  if (raw.oncall !== undefined) {
    if (typeof raw.oncall !== 'string') w.fail([...path, 'oncall'], 'expected an on-call schedule name');
    else { selector.oncall = raw.oncall; record.oncall = raw.oncall; w.refs.push({ kind: 'oncall', name: raw.oncall, path: [...path, 'oncall'] }); }
  }
  if (raw.people !== undefined) {
    if (!Array.isArray(raw.people) || !raw.people.every((p) => typeof p === 'string')) w.fail([...path, 'people'], 'expected a list of person ids');
    else {
      selector.people = raw.people as string[];
      record.people = raw.people as string[];
      (raw.people as string[]).forEach((p, i) => w.refs.push({ kind: 'person', name: p, path: [...path, 'people', i] }));
    }
  }
  if (Object.keys(selector).length === 0) {
    w.fail(path, 'names nobody: give group, role, manager, oncall or people');
    return null;
  }
  return { selector, record };
}

function compileQuorum(w: Walker, raw: unknown, path: Path): number | 'all' {
  if (raw === undefined || raw === 'any') return 1;
  if (raw === 'all') return 'all';
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1) return raw;
  w.fail(path, `expected quorum any, all or a number N (N of the eligible approvers), got ${JSON.stringify(raw)}`);
  return 1;
}

function compileStep(w: Walker, raw: unknown, path: Path, reviewsFlag = false): StepTemplate | null {
  if (!isObj(raw)) {
    w.fail(path, 'expected a step: { name, approvers, quorum?, sla?, expiry?, alternate? }');
    return null;
  }
  w.keys(raw, path, STEP_KEYS);
  if (typeof raw.name !== 'string' || raw.name.trim() === '') w.fail([...path, 'name'], 'a step needs a name');
  const approvers = compileApprovers(w, raw.approvers, [...path, 'approvers']);
  const quorum = compileQuorum(w, raw.quorum, [...path, 'quorum']);
  const sla = raw.sla === undefined ? null : w.duration(raw.sla, [...path, 'sla']);
  const expiry = raw.expiry === undefined ? null : w.duration(raw.expiry, [...path, 'expiry']);
  const alternate = raw.alternate === undefined ? null : compileApprovers(w, raw.alternate, [...path, 'alternate']);
  if (!approvers || typeof raw.name !== 'string') return null;
  return {
    name: raw.name,
    approvers: approvers.selector,
    approversRecord: approvers.record,
    quorum,
    slaMinutes: sla,
    expiryMinutes: expiry,
    alternate: alternate?.selector ?? null,
    reviewsFlag,
    origin: w.origin(path),
  };
}

function compileSteps(w: Walker, raw: unknown, path: Path): StepTemplate[] {
  return w.list(raw, path).map((s, i) => compileStep(w, s, [...path, i])).filter((s): s is StepTemplate => s !== null);
}

function compileFactor(w: Walker, raw: unknown, path: Path): CompiledFactor | null {
  if (!isObj(raw)) { w.fail(path, 'expected a factor: { id, when, points }'); return null; }
  w.keys(raw, path, ['id', 'when', 'points', 'description']);
  const id = w.id(raw.id, [...path, 'id']);
  const when = w.expr(raw.when, [...path, 'when'], 'factor');
  const points = w.number(raw.points, [...path, 'points'], 0);
  if (!id || !when || points === null) return null;
  return { id, points, description: typeof raw.description === 'string' ? raw.description : null, when, origin: w.origin(path) };
}

function compilePrerequisite(w: Walker, raw: unknown, path: Path): CompiledPrerequisite | null {
  if (!isObj(raw)) { w.fail(path, 'expected a prerequisite: { id, when?, require, onFail, message? }'); return null; }
  w.keys(raw, path, ['id', 'when', 'require', 'onFail', 'message']);
  const id = w.id(raw.id, [...path, 'id']);
  // Prerequisites run after risk is scored, so they may ask about it (e.g. high risk needs a test plan).
  const when = raw.when === undefined ? null : w.expr(raw.when, [...path, 'when'], 'rule');
  const require = w.expr(raw.require, [...path, 'require'], 'rule');
  if (raw.onFail !== 'reject' && raw.onFail !== 'block') w.fail([...path, 'onFail'], `expected onFail: reject (auto-reject) or block (wait for the data), got ${JSON.stringify(raw.onFail) ?? 'nothing'}`);
  if (!id || !require || (raw.when !== undefined && !when) || (raw.onFail !== 'reject' && raw.onFail !== 'block')) return null;
  return { id, when, require, onFail: raw.onFail, message: typeof raw.message === 'string' ? raw.message : `prerequisite ${id} not met (${require.source})`, origin: w.origin(path) };
}

function compileRoute(w: Walker, raw: unknown, path: Path): CompiledRoute | null {
  if (!isObj(raw)) { w.fail(path, 'expected a route: { id, when, steps }'); return null; }
  w.keys(raw, path, ['id', 'when', 'steps']);
  const id = w.id(raw.id, [...path, 'id']);
  const when = w.expr(raw.when, [...path, 'when'], 'rule');
  if (!Array.isArray(raw.steps)) w.fail([...path, 'steps'], 'expected a list of steps (an empty list pre-approves)');
  const steps = compileSteps(w, raw.steps, [...path, 'steps']);
  if (!id || !when) return null;
  return { id, when, steps, origin: w.origin(path) };
}

const WINDOW_KINDS = ['business-hours', 'freeze', 'holiday'] as const;

function compileWindow(w: Walker, raw: unknown, path: Path, tierNames: Set<string>): CompiledWindow | null {
  if (!isObj(raw)) { w.fail(path, 'expected a window: { id, kind, timeZone, ... }'); return null; }
  w.keys(raw, path, ['id', 'kind', 'timeZone', 'days', 'from', 'until', 'periods', 'raiseTierTo', 'steps']);
  const id = w.id(raw.id, [...path, 'id']);
  const kind = raw.kind as CompiledWindow['kind'];
  if (!WINDOW_KINDS.includes(kind)) w.fail([...path, 'kind'], `expected kind ${WINDOW_KINDS.join(', ')}, got ${JSON.stringify(raw.kind) ?? 'nothing'}`);
  const timeZone = raw.timeZone ?? 'UTC';
  if (typeof timeZone !== 'string' || !isTimeZone(timeZone)) w.fail([...path, 'timeZone'], `unknown IANA time zone ${JSON.stringify(timeZone)}`);
  let days: number[] = [1, 2, 3, 4, 5];
  let from: number | null = null;
  let until: number | null = null;
  if (kind === 'business-hours') {
    if (raw.days !== undefined) {
      if (!Array.isArray(raw.days) || !raw.days.every((d) => Number.isInteger(d) && d >= 1 && d <= 7)) w.fail([...path, 'days'], 'expected day numbers 1 (Monday) to 7 (Sunday)');
      else days = raw.days as number[];
    }
    for (const k of ['from', 'until'] as const) {
      const v = raw[k];
      if (typeof v !== 'string' || !/^([01]\d|2[0-3]):[0-5]\d$/.test(v)) w.fail([...path, k], `expected a local time "HH:MM", got ${JSON.stringify(v) ?? 'nothing'}`);
      else if (k === 'from') from = clockMinutes(v);
      else until = clockMinutes(v);
    }
  }
  const periods: CompiledWindow['periods'] = [];
  w.list(raw.periods, [...path, 'periods']).forEach((p, i) => {
    const at = [...path, 'periods', i];
    const f = isObj(p) ? toIso(p.from) : null;
    const u = isObj(p) ? toIso(p.until) : null;
    if (!isObj(p) || !f || !u) w.fail(at, 'expected { from: ISO time, until: ISO time, reason }');
    else periods.push({ from: f, until: u, reason: typeof p.reason === 'string' ? p.reason : id ?? 'freeze' });
  });
  if (raw.periods !== undefined && kind !== 'freeze') w.fail([...path, 'periods'], 'periods belong to a freeze window');
  let raiseTierTo: string | null = null;
  if (raw.raiseTierTo !== undefined) {
    if (typeof raw.raiseTierTo !== 'string' || !tierNames.has(raw.raiseTierTo)) w.fail([...path, 'raiseTierTo'], `unknown tier ${JSON.stringify(raw.raiseTierTo)} (tiers: ${[...tierNames].join(', ')})`);
    else raiseTierTo = raw.raiseTierTo;
  }
  const steps = compileSteps(w, raw.steps, [...path, 'steps']);
  if (!raiseTierTo && steps.length === 0) w.fail(path, 'a window must raise requirements: give raiseTierTo and/or steps');
  if (!id || !WINDOW_KINDS.includes(kind) || typeof timeZone !== 'string') return null;
  return { id, kind, timeZone, days, from, until, periods, raiseTierTo, steps, origin: w.origin(path) };
}

function toIso(v: unknown): string | null {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return new Date(v).toISOString();
  return null;
}

function compileTarget(w: Walker, raw: unknown, path: Path): EscalationTarget | null {
  if (raw === 'alternate') return { kind: 'alternate' };
  if (raw === 'manager') return { kind: 'manager' };
  if (typeof raw === 'string' && raw.startsWith('oncall:') && raw.length > 7) {
    w.refs.push({ kind: 'oncall', name: raw.slice(7), path });
    return { kind: 'oncall', schedule: raw.slice(7) };
  }
  if (typeof raw === 'string' && raw.startsWith('group:') && raw.length > 6) {
    w.refs.push({ kind: 'group', name: raw.slice(6), path });
    return { kind: 'group', group: raw.slice(6) };
  }
  w.fail(path, `expected alternate, manager, oncall:<schedule> or group:<name>, got ${JSON.stringify(raw) ?? 'nothing'}`);
  return null;
}

function compileLadder(w: Walker, raw: unknown, path: Path): EscalationRung[] {
  const rungs: EscalationRung[] = [];
  w.list(raw, path).forEach((r, i) => {
    const at = [...path, i];
    if (!isObj(r)) { w.fail(at, 'expected { after: 4h, to: manager }'); return; }
    w.keys(r, at, ['after', 'to']);
    const after = w.duration(r.after, [...at, 'after']);
    const to = compileTarget(w, r.to, [...at, 'to']);
    const prev = rungs[rungs.length - 1];
    if (after !== null && prev && after <= prev.afterMinutes) w.fail([...at, 'after'], 'each rung must come after the previous one');
    if (after !== null && to) rungs.push({ afterMinutes: after, to, text: String(r.to) });
  });
  return rungs;
}

/** Ids must be unique in a list; checked on the raw list so the reported index is the file's own. */
function checkDuplicates(w: Walker, raw: unknown, what: string, path: Path): void {
  if (!Array.isArray(raw)) return;
  const seen = new Set<string>();
  raw.forEach((it, i) => {
    const id = isObj(it) && typeof it.id === 'string' ? it.id : null;
    if (id === null) return;
    if (seen.has(id)) w.fail([...path, i, 'id'], `duplicate ${what} id '${id}'`);
    seen.add(id);
  });
}

function checkReferences(w: Walker, directory: Directory | undefined): void {
  if (!directory) return;
  const people = Object.values(directory.people);
  const groups = new Set(people.flatMap((p) => p.groups));
  const roles = new Set(people.flatMap((p) => p.roles.map((r) => r.role)));
  for (const ref of w.refs) {
    if (ref.kind === 'group' && !groups.has(ref.name)) w.fail(ref.path, `unknown group '${ref.name}': nobody in the directory belongs to it`);
    if (ref.kind === 'role' && !roles.has(ref.name)) w.fail(ref.path, `unknown role '${ref.name}': nobody in the directory holds it`);
    if (ref.kind === 'person' && !directory.people[ref.name]) w.fail(ref.path, `unknown person '${ref.name}': not in the directory`);
    if (ref.kind === 'oncall' && !directory.oncall[ref.name]) w.fail(ref.path, `unknown on-call schedule '${ref.name}'`);
  }
}

const TOP_KEYS = ['version', 'risk', 'windows', 'prerequisites', 'routes', 'escalation', 'expiry', 'emergency', 'separationOfDuties', 'delegation', 'riskAcceptance'] as const;

export function compilePolicy(doc: unknown, source: PolicySource, opts: CompileOptions = {}): { ok: true; policy: CompiledPolicy } | { ok: false; errors: PolicyError[] } {
  const w = new Walker(source);
  if (!isObj(doc)) {
    w.fail([], 'expected a policy mapping with risk, prerequisites, routes, ...');
    return { ok: false, errors: w.errors };
  }
  w.keys(doc, [], TOP_KEYS);
  if (doc.version !== undefined && doc.version !== 1) w.fail(['version'], `unsupported policy version ${JSON.stringify(doc.version)} (this hub reads version 1)`);

  // Risk: factors and tiers.
  const risk = isObj(doc.risk) ? doc.risk : {};
  if (!isObj(doc.risk)) w.fail(['risk'], 'expected risk: { factors, tiers }');
  w.keys(risk, ['risk'], ['factors', 'tiers', 'anomaly']);
  const factors = w.list(risk.factors, ['risk', 'factors']).map((f, i) => compileFactor(w, f, ['risk', 'factors', i])).filter((f): f is CompiledFactor => f !== null);
  checkDuplicates(w, risk.factors, 'factor', ['risk', 'factors']);
  const tiers: { name: string; min: number }[] = [];
  if (!isObj(risk.tiers) || Object.keys(risk.tiers).length === 0) w.fail(['risk', 'tiers'], 'expected tiers: { low: 0, medium: 30, high: 60 }');
  else for (const [name, min] of Object.entries(risk.tiers)) {
    const m = w.number(min, ['risk', 'tiers', name], 0);
    if (m !== null) tiers.push({ name, min: m });
  }
  tiers.sort((a, b) => a.min - b.min);
  if (tiers.length > 0 && tiers[0]!.min !== 0) w.fail(['risk', 'tiers'], `the lowest tier must start at 0 so every score has a tier (${tiers[0]!.name} starts at ${tiers[0]!.min})`);
  const tierNames = new Set(tiers.map((t) => t.name));

  let anomaly: CompiledPolicy['anomaly'] = null;
  if (risk.anomaly !== undefined) {
    const a = risk.anomaly;
    const at: Path = ['risk', 'anomaly'];
    if (!isObj(a)) w.fail(at, 'expected anomaly: { model: median-mad, threshold, minSamples, step }');
    else {
      w.keys(a, at, ['model', 'threshold', 'minSamples', 'frequencyRatio', 'timeZone', 'step']);
      if (a.model !== undefined && a.model !== 'median-mad') w.fail([...at, 'model'], `the only model is median-mad (modified z-score), got ${JSON.stringify(a.model)}`);
      const threshold = a.threshold === undefined ? 3.5 : w.number(a.threshold, [...at, 'threshold'], 0.1);
      const minSamples = a.minSamples === undefined ? 8 : w.number(a.minSamples, [...at, 'minSamples'], 3);
      const frequencyRatio = a.frequencyRatio === undefined ? 3 : w.number(a.frequencyRatio, [...at, 'frequencyRatio'], 1);
      const tz = a.timeZone ?? 'UTC';
      if (typeof tz !== 'string' || !isTimeZone(tz)) w.fail([...at, 'timeZone'], `unknown IANA time zone ${JSON.stringify(tz)}`);
      const step = compileStep(w, a.step, [...at, 'step'], true);
      if (a.step === undefined) w.fail([...at, 'step'], 'an anomaly adds a scrutiny step: give step: { name, approvers }');
      if (threshold !== null && minSamples !== null && frequencyRatio !== null && step && typeof tz === 'string') anomaly = { threshold, minSamples, frequencyRatio, timeZone: tz, step };
    }
  }

  const windows = w.list(doc.windows, ['windows']).map((x, i) => compileWindow(w, x, ['windows', i], tierNames)).filter((x): x is CompiledWindow => x !== null);
  checkDuplicates(w, doc.windows, 'window', ['windows']);
  const prerequisites = w.list(doc.prerequisites, ['prerequisites']).map((x, i) => compilePrerequisite(w, x, ['prerequisites', i])).filter((x): x is CompiledPrerequisite => x !== null);
  checkDuplicates(w, doc.prerequisites, 'prerequisite', ['prerequisites']);
  if (!Array.isArray(doc.routes)) w.fail(['routes'], 'expected routes: a list of { id, when, steps }');
  const routes = w.list(doc.routes, ['routes']).map((x, i) => compileRoute(w, x, ['routes', i])).filter((x): x is CompiledRoute => x !== null);
  checkDuplicates(w, doc.routes, 'route', ['routes']);

  // Escalation ladder.
  let escalation: CompiledPolicy['escalation'] = { clock: 'business', ladder: [] };
  if (doc.escalation !== undefined) {
    const e = doc.escalation;
    if (!isObj(e)) w.fail(['escalation'], 'expected escalation: { clock: business, ladder: [...] }');
    else {
      w.keys(e, ['escalation'], ['clock', 'ladder']);
      if (e.clock !== undefined && e.clock !== 'business' && e.clock !== 'wall') w.fail(['escalation', 'clock'], 'expected clock: business (approver\'s working hours) or wall');
      escalation = { clock: e.clock === 'wall' ? 'wall' : 'business', ladder: compileLadder(w, e.ladder, ['escalation', 'ladder']) };
    }
  }

  let expiry: CompiledPolicy['expiry'] = { approvalMinutes: null, requestMinutes: null };
  if (doc.expiry !== undefined) {
    if (!isObj(doc.expiry)) w.fail(['expiry'], 'expected expiry: { approval: 72h, request: 14d }');
    else {
      w.keys(doc.expiry, ['expiry'], ['approval', 'request']);
      expiry = {
        approvalMinutes: doc.expiry.approval === undefined ? null : w.duration(doc.expiry.approval, ['expiry', 'approval']),
        requestMinutes: doc.expiry.request === undefined ? null : w.duration(doc.expiry.request, ['expiry', 'request']),
      };
    }
  }

  let emergency: CompiledPolicy['emergency'] = null;
  if (doc.emergency !== undefined) emergency = compileEmergency(w, doc.emergency);

  if (doc.separationOfDuties !== undefined && doc.separationOfDuties !== true) {
    w.fail(['separationOfDuties'], 'separation of duties cannot be turned off: a requester never approves their own change');
  }
  let delegation: CompiledPolicy['delegation'] = { fallbackOncall: null };
  if (doc.delegation !== undefined) {
    if (!isObj(doc.delegation)) w.fail(['delegation'], 'expected delegation: { fallback: "oncall:<schedule>" }');
    else {
      w.keys(doc.delegation, ['delegation'], ['fallback']);
      const t = compileTarget(w, doc.delegation.fallback, ['delegation', 'fallback']);
      if (t && t.kind !== 'oncall') w.fail(['delegation', 'fallback'], 'the delegation fallback is an on-call schedule: oncall:<schedule>');
      else if (t?.kind === 'oncall') delegation = { fallbackOncall: t.schedule };
    }
  }
  let riskAcceptance = { minJustificationLength: 10 };
  if (doc.riskAcceptance !== undefined) {
    if (!isObj(doc.riskAcceptance)) w.fail(['riskAcceptance'], 'expected riskAcceptance: { minJustificationLength }');
    else {
      w.keys(doc.riskAcceptance, ['riskAcceptance'], ['minJustificationLength']);
      const n = w.number(doc.riskAcceptance.minJustificationLength, ['riskAcceptance', 'minJustificationLength'], 1);
      if (n !== null) riskAcceptance = { minJustificationLength: n };
    }
  }

  checkReferences(w, opts.directory);
  if (w.errors.length > 0) return { ok: false, errors: byLine(w.errors) };
  return {
    ok: true,
    policy: {
      files: [source.file],
      tiers, factors, prerequisites, routes, windows, anomaly, escalation, expiry, emergency,
      separationOfDuties: true,
      delegation,
      riskAcceptance,
      overlays: [],
    },
  };
}

function compileEmergency(w: Walker, raw: unknown): CompiledPolicy['emergency'] {
  const at: Path = ['emergency'];
  if (!isObj(raw)) { w.fail(at, 'expected emergency: { when, approvers, validity, pir }'); return null; }
  w.keys(raw, at, ['when', 'approvers', 'quorum', 'justification', 'validity', 'onValidityExpired', 'pir']);
  const when = w.expr(raw.when, [...at, 'when'], 'rule');
  const approvers = compileApprovers(w, raw.approvers, [...at, 'approvers']);
  const quorum = compileQuorum(w, raw.quorum, [...at, 'quorum']);
  if (raw.justification !== undefined && raw.justification !== 'required' && raw.justification !== 'optional') w.fail([...at, 'justification'], 'expected required or optional');
  const validity = w.duration(raw.validity ?? '4h', [...at, 'validity']);
  const onExp = raw.onValidityExpired ?? 'rollback';
  if (onExp !== 'rollback' && onExp !== 'announce') w.fail([...at, 'onValidityExpired'], 'expected rollback or announce');
  const pir = isObj(raw.pir) ? raw.pir : null;
  if (!pir) w.fail([...at, 'pir'], 'an emergency change needs a post-implementation review: pir: { within: 5d, signoff: { group: cab } }');
  else w.keys(pir, [...at, 'pir'], ['within', 'signoff']);
  const within = pir ? w.duration(pir.within, [...at, 'pir', 'within']) : null;
  const signoff = pir ? compileApprovers(w, pir.signoff, [...at, 'pir', 'signoff']) : null;
  if (!when || !approvers || validity === null || !within || !signoff || (onExp !== 'rollback' && onExp !== 'announce')) return null;
  return {
    when,
    step: {
      name: 'Emergency approval', approvers: approvers.selector, approversRecord: approvers.record, quorum,
      slaMinutes: null, expiryMinutes: null, alternate: null, reviewsFlag: false, origin: w.origin(at),
    },
    justificationRequired: raw.justification !== 'optional',
    validityMinutes: validity,
    onValidityExpired: onExp,
    pir: { withinMinutes: within, signoff: signoff.selector, signoffRecord: signoff.record },
    origin: w.origin(at),
  };
}

// ---------------------------------------------------------------------------------------------------
// Overlays: team or region policies that add rules or tighten the central guardrails, never loosen.

const OVERLAY_KEYS = ['overlay', 'risk', 'windows', 'prerequisites', 'routes', 'escalation', 'expiry', 'emergency', 'separationOfDuties', 'riskAcceptance'] as const;

function scoped(scope: CompiledExpr | null, e: CompiledExpr): CompiledExpr {
  if (!scope) return e;
  return {
    source: `(${scope.source}) && (${e.source})`,
    path: e.path,
    origin: e.origin,
    test: (ctx) => scope.test(ctx) && e.test(ctx),
    value: (ctx) => scope.test(ctx) && e.value(ctx) === true,
  };
}

/**
 * Applies one overlay to a compiled policy. Added factors, prerequisites, windows and routes apply only
 * to changes matching `overlay.appliesTo`; tier thresholds and timings may only be tightened, and only
 * by an overlay without appliesTo (a region hub's overlay), because they are not per-change settings.
 */
export function applyOverlay(base: CompiledPolicy, doc: unknown, source: PolicySource, opts: CompileOptions = {}): { ok: true; policy: CompiledPolicy } | { ok: false; errors: PolicyError[] } {
  const w = new Walker(source);
  if (!isObj(doc)) {
    w.fail([], 'expected an overlay mapping starting with overlay: { id, appliesTo }');
    return { ok: false, errors: w.errors };
  }
  w.keys(doc, [], OVERLAY_KEYS);
  const meta = isObj(doc.overlay) ? doc.overlay : null;
  if (!meta) w.fail(['overlay'], 'an overlay starts with overlay: { id, appliesTo? }');
  else w.keys(meta, ['overlay'], ['id', 'appliesTo']);
  const id = meta ? w.id(meta.id, ['overlay', 'id']) : null;
  const scope = meta && meta.appliesTo !== undefined ? w.expr(meta.appliesTo, ['overlay', 'appliesTo'], 'factor') : null;
  const loosens = (path: Path, what: string) => w.fail(path, `loosens the central policy: ${what}; an overlay may add or tighten rules, never loosen them`);

  const policy: CompiledPolicy = {
    ...base,
    files: [...base.files, source.file],
    tiers: base.tiers.map((t) => ({ ...t })),
    factors: [...base.factors],
    prerequisites: [...base.prerequisites],
    routes: [...base.routes],
    windows: [...base.windows],
    escalation: { ...base.escalation, ladder: [...base.escalation.ladder] },
    expiry: { ...base.expiry },
    overlays: [...base.overlays],
  };
  const tierNames = new Set(base.tiers.map((t) => t.name));
  const global = (path: Path) => {
    if (scope) w.fail(path, 'tier thresholds and timings apply to the whole hub: set them in an overlay without appliesTo');
  };

  if (doc.separationOfDuties !== undefined && doc.separationOfDuties !== true) loosens(['separationOfDuties'], 'separation of duties cannot be turned off');

  if (doc.risk !== undefined) {
    const risk = isObj(doc.risk) ? doc.risk : {};
    w.keys(risk, ['risk'], ['factors', 'tiers', 'anomaly']);
    w.list(risk.factors, ['risk', 'factors']).forEach((raw, i) => {
      const f = compileFactor(w, raw, ['risk', 'factors', i]);
      if (!f) return;
      const existing = policy.factors.findIndex((x) => x.id === f.id);
      if (existing >= 0) {
        const central = policy.factors[existing]!;
        if (f.points < central.points) loosens(['risk', 'factors', i, 'points'], `factor '${f.id}' would count ${f.points} points instead of ${central.points}`);
        else if (f.when.source !== central.when.source) w.fail(['risk', 'factors', i, 'when'], `factor '${f.id}' is defined centrally; an overlay may raise its points but not rewrite its condition (add a factor with a new id)`, f.when.source);
        // Same id on purpose: the engine adds points per factor id, so this raises the central factor in scope.
        else if (f.points > central.points) policy.factors.push({ ...f, points: f.points - central.points, when: scoped(scope, f.when) });
        return;
      }
      policy.factors.push({ ...f, when: scoped(scope, f.when) });
    });
    if (risk.tiers !== undefined) {
      global(['risk', 'tiers']);
      if (!isObj(risk.tiers)) w.fail(['risk', 'tiers'], 'expected tiers: { name: threshold }');
      else for (const [name, min] of Object.entries(risk.tiers)) {
        const t = policy.tiers.find((x) => x.name === name);
        if (!t) { w.fail(['risk', 'tiers', name], `unknown tier '${name}': an overlay may lower thresholds of central tiers (${[...tierNames].join(', ')})`); continue; }
        if (typeof min !== 'number') { w.fail(['risk', 'tiers', name], 'expected a number'); continue; }
        if (min > t.min) loosens(['risk', 'tiers', name], `tier '${name}' would start at ${min} instead of ${t.min}`);
        else t.min = min;
      }
      policy.tiers.sort((a, b) => a.min - b.min);
    }
    if (risk.anomaly !== undefined) {
      global(['risk', 'anomaly']);
      const a = isObj(risk.anomaly) ? risk.anomaly : {};
      w.keys(a, ['risk', 'anomaly'], ['threshold']);
      if (!base.anomaly) w.fail(['risk', 'anomaly'], 'the central policy has no anomaly model to tighten');
      else if (typeof a.threshold === 'number') {
        if (a.threshold > base.anomaly.threshold) loosens(['risk', 'anomaly', 'threshold'], `anomaly threshold ${a.threshold} is above the central ${base.anomaly.threshold}`);
        else policy.anomaly = { ...base.anomaly, threshold: a.threshold };
      }
    }
  }

  w.list(doc.prerequisites, ['prerequisites']).forEach((raw, i) => {
    const p = compilePrerequisite(w, raw, ['prerequisites', i]);
    if (!p) return;
    const central = policy.prerequisites.find((x) => x.id === p.id);
    if (central) {
      if (central.onFail === 'reject' && p.onFail === 'block') loosens(['prerequisites', i, 'onFail'], `prerequisite '${p.id}' rejects centrally; block would let the change wait instead`);
      else if (p.require.source !== central.require.source || (p.when?.source ?? null) !== (central.when?.source ?? null)) w.fail(['prerequisites', i, 'require'], `prerequisite '${p.id}' is defined centrally; an overlay may turn block into reject but not rewrite its conditions (add a prerequisite with a new id)`, p.require.source);
      // Same id on purpose: the engine reports one failure per id, and reject wins over block.
      else if (p.onFail !== central.onFail) policy.prerequisites.push({ ...central, onFail: p.onFail, message: p.message, origin: p.origin, when: scope ? scoped(scope, central.when ?? alwaysTrue(central.require)) : central.when });
      return;
    }
    policy.prerequisites.push({ ...p, when: scope ? scoped(scope, p.when ?? alwaysTrue(p.require)) : p.when });
  });

  w.list(doc.windows, ['windows']).forEach((raw, i) => {
    const win = compileWindow(w, raw, ['windows', i], tierNames);
    if (!win) return;
    if (policy.windows.some((x) => x.id === win.id)) { w.fail(['windows', i, 'id'], `window '${win.id}' is defined centrally; add a window with a new id`); return; }
    if (scope) w.fail(['windows', i], 'windows apply to the whole hub: set them in an overlay without appliesTo');
    policy.windows.push(win);
  });

  w.list(doc.routes, ['routes']).forEach((raw, i) => {
    const r = compileRoute(w, raw, ['routes', i]);
    if (!r) return;
    if (policy.routes.some((x) => x.id === r.id)) { w.fail(['routes', i, 'id'], `route '${r.id}' is defined centrally and cannot be replaced; add a route with a new id`); return; }
    policy.routes.push({ ...r, when: scoped(scope, r.when) });
  });

  if (doc.escalation !== undefined) {
    global(['escalation']);
    const e = isObj(doc.escalation) ? doc.escalation : {};
    w.keys(e, ['escalation'], ['clock', 'ladder']);
    if (e.clock !== undefined && e.clock !== base.escalation.clock) w.fail(['escalation', 'clock'], `an overlay cannot change the escalation clock (central: ${base.escalation.clock})`);
    if (e.ladder !== undefined) {
      const ladder = compileLadder(w, e.ladder, ['escalation', 'ladder']);
      base.escalation.ladder.forEach((rung, i) => {
        const mine = ladder[i];
        if (!mine) loosens(['escalation', 'ladder'], `the ladder drops rung ${i + 1} (${rung.text} after ${formatMinutes(rung.afterMinutes)})`);
        else if (mine.afterMinutes > rung.afterMinutes) loosens(['escalation', 'ladder', i, 'after'], `rung ${i + 1} escalates after ${formatMinutes(mine.afterMinutes)} instead of ${formatMinutes(rung.afterMinutes)}`);
      });
      policy.escalation.ladder = ladder;
    }
  }

  if (doc.expiry !== undefined) {
    global(['expiry']);
    const e = isObj(doc.expiry) ? doc.expiry : {};
    w.keys(e, ['expiry'], ['approval', 'request']);
    for (const [k, field] of [['approval', 'approvalMinutes'], ['request', 'requestMinutes']] as const) {
      if (e[k] === undefined) continue;
      const m = w.duration(e[k], ['expiry', k]);
      const central = base.expiry[field];
      if (m === null) continue;
      if (central !== null && m > central) loosens(['expiry', k], k === 'approval' ? `approvals would stay valid ${formatMinutes(m)} instead of ${formatMinutes(central)}` : `requests would stay open ${formatMinutes(m)} instead of ${formatMinutes(central)}`);
      else policy.expiry[field] = m;
    }
  }

  if (doc.emergency !== undefined) {
    const e = isObj(doc.emergency) ? doc.emergency : {};
    w.keys(e, ['emergency'], ['when', 'validity', 'pir']);
    if (!base.emergency) w.fail(['emergency'], 'the central policy has no emergency path to tighten');
    else {
      let em = { ...base.emergency, pir: { ...base.emergency.pir } };
      if (e.when !== undefined) {
        // Extra criteria are ANDed with the central ones, so they can only narrow the emergency path.
        const extra = w.expr(e.when, ['emergency', 'when'], 'rule');
        if (extra) {
          const central = em.when;
          const narrowed = scope ? scoped(scope, extra) : extra;
          em = { ...em, when: { ...central, source: `(${central.source}) && (${extra.source})`, test: (ctx) => central.test(ctx) && (scope ? !scope.test(ctx) || extra.test(ctx) : narrowed.test(ctx)) } };
        }
      }
      if (e.validity !== undefined) {
        global(['emergency', 'validity']);
        const m = w.duration(e.validity, ['emergency', 'validity']);
        if (m !== null && m > base.emergency.validityMinutes) loosens(['emergency', 'validity'], `emergency validity ${formatMinutes(m)} is longer than the central ${formatMinutes(base.emergency.validityMinutes)}`);
        else if (m !== null) em.validityMinutes = m;
      }
      if (e.pir !== undefined) {
        global(['emergency', 'pir']);
        const p = isObj(e.pir) ? e.pir : {};
        w.keys(p, ['emergency', 'pir'], ['within']);
        const m = w.duration(p.within, ['emergency', 'pir', 'within']);
        if (m !== null && m > base.emergency.pir.withinMinutes) loosens(['emergency', 'pir', 'within'], `the review would be due after ${formatMinutes(m)} instead of ${formatMinutes(base.emergency.pir.withinMinutes)}`);
        else if (m !== null) em.pir.withinMinutes = m;
      }
      policy.emergency = em;
    }
  }

  if (doc.riskAcceptance !== undefined) {
    const r = isObj(doc.riskAcceptance) ? doc.riskAcceptance : {};
    w.keys(r, ['riskAcceptance'], ['minJustificationLength']);
    const n = w.number(r.minJustificationLength, ['riskAcceptance', 'minJustificationLength'], 1);
    if (n !== null && n < base.riskAcceptance.minJustificationLength) loosens(['riskAcceptance', 'minJustificationLength'], `a justification of ${n} characters is shorter than the central ${base.riskAcceptance.minJustificationLength}`);
    else if (n !== null) policy.riskAcceptance = { minJustificationLength: n };
  }

  checkReferences(w, opts.directory);
  if (w.errors.length > 0) return { ok: false, errors: byLine(w.errors) };
  policy.overlays.push({ id: id ?? source.file, file: source.file, appliesTo: scope?.source ?? null });
  return { ok: true, policy };
}

function alwaysTrue(like: CompiledExpr): CompiledExpr {
  return { ...like, source: 'true', test: () => true, value: () => true };
}

function byLine(errors: PolicyError[]): PolicyError[] {
  return errors.map((e, i) => ({ e, i })).sort((a, b) => a.e.line - b.e.line || a.i - b.i).map((x) => x.e);
}
