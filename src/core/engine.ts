// The engine: one pure function from (change, command, policy, directory, history, clock) to the next
// change, the effects to carry out and the audit entries to append. It never reads a clock, a file or
// the network; the pipeline stores the result and turns effects into jobs and timers.
import type { Change, Command, DecideResult, Decision, Directory, Effect, History, Person, Step, TransitionDraft, ChangeState } from './types.ts';
import type { CompiledPolicy, StepTemplate, CelContext } from './policy/types.ts';
import { assessRisk, type Assessment } from './risk.ts';
import { canTransition, transition, whyNot, TERMINAL, type Actor } from './lifecycle.ts';
import { allowed, eligibility, resolveApprovers } from './approvers.ts';
import { addBusinessMinutes, addMinutes, businessMinutesBetween } from './time.ts';

export interface EngineContext {
  policy: CompiledPolicy;
  directory: Directory;
  history: History;
  now: Date;
}

const HUB: Actor = { actor: 'hub', sourceTool: 'hub' };

/** Mutable working set for one decision; `decide` clones the change first so callers' data is untouched. */
interface Work {
  c: Change;
  effects: Effect[];
  transitions: TransitionDraft[];
  ctx: EngineContext;
  nowIso: string;
}

function refuse(code: string, reason: string): DecideResult {
  return { ok: false, code, reason };
}

function note(w: Work, action: string, by: Actor, after: unknown, rationale: string | null = null, before: unknown = null): void {
  w.transitions.push({ action, actor: by.actor, sourceTool: by.sourceTool, before, after, rationale });
}

function move(w: Work, to: ChangeState, by: Actor, rationale: string | null): void {
  w.transitions.push(transition(w.c, to, by, rationale, w.nowIso));
  w.effects.push({ type: 'sync-state', state: to });
}

function announce(w: Work, event: string, message: string): void {
  w.effects.push({ type: 'announce', event, message });
}

export function decide(change: Change | null, command: Command, ctx: EngineContext): DecideResult {
  const nowIso = ctx.now.toISOString();
  if (command.type === 'submit') {
    if (change && change.state !== 'draft') return refuse('already-submitted', `change ${change.id} was already submitted (state ${change.state})`);
    const c = structuredClone(command.change);
    const w: Work = { c, effects: [], transitions: [], ctx, nowIso };
    return submit(w, { actor: command.actor, sourceTool: command.sourceTool });
  }
  if (!change) return refuse('not-found', `the ${command.type} command needs an existing change`);
  const w: Work = { c: structuredClone(change), effects: [], transitions: [], ctx, nowIso };
  switch (command.type) {
    case 'update': return update(w, command.fields, { actor: command.actor, sourceTool: command.sourceTool });
    case 'decide': return decideStep(w, command.decision);
    case 'tick': return tick(w);
    case 'transition': return manualTransition(w, command.to, { actor: command.actor, sourceTool: command.sourceTool }, command.rationale);
    case 'pir-signoff': return pirSignoff(w, { actor: command.actor, sourceTool: command.sourceTool }, command.notes);
  }
}

function done(w: Work): DecideResult {
  return { ok: true, change: w.c, effects: w.effects, transitions: w.transitions };
}

// --- submit -------------------------------------------------------------------------------------------

function submit(w: Work, by: Actor): DecideResult {
  const c = w.c;
  if (!c.requester) return refuse('invalid-change', 'the change has no requester');
  c.state = 'draft';
  c.steps = [];
  c.decisions = [];
  c.deadlines = {};
  c.pir = null;
  c.labels = { ...(c.labels ?? {}) };
  c.artifacts = c.artifacts ?? {};
  c.createdAt = c.createdAt || w.nowIso;
  c.updatedAt = w.nowIso;
  note(w, 'submitted', by, { id: c.id, type: c.type, environment: c.environment, requester: c.requester });
  const a = assessRisk(c, w.ctx.policy, w.ctx.history, w.ctx.directory, w.ctx.now);
  c.risk = a.risk;
  note(w, 'risk-scored', HUB, a.risk, a.windowNotes.length ? a.windowNotes.join('; ') : null);
  if (c.type === 'emergency') return submitEmergency(w, a);
  return afterPrerequisites(w, a, by);
}

interface PrerequisiteResult {
  rejects: { id: string; message: string }[];
  blocks: { id: string; message: string }[];
}

function checkPrerequisites(policy: CompiledPolicy, ctx: CelContext): PrerequisiteResult {
  const rejects = new Map<string, string>();
  const blocks = new Map<string, string>();
  for (const p of policy.prerequisites) {
    if (p.when && !p.when.test(ctx)) continue;
    if (p.require.test(ctx)) continue;
    (p.onFail === 'reject' ? rejects : blocks).set(p.id, p.message);
  }
  for (const id of rejects.keys()) blocks.delete(id); // reject wins over block for the same prerequisite
  return {
    rejects: [...rejects].map(([id, message]) => ({ id, message })),
    blocks: [...blocks].map(([id, message]) => ({ id, message })),
  };
}

function afterPrerequisites(w: Work, a: Assessment, by: Actor): DecideResult {
  const pre = checkPrerequisites(w.ctx.policy, a.ctx);
  if (pre.rejects.length > 0) {
    const reason = `Auto-rejected: ${pre.rejects.map((r) => `${r.message} [${r.id}]`).join('; ')}`;
    note(w, 'prerequisites-failed', HUB, { reject: pre.rejects, block: pre.blocks });
    move(w, 'rejected', HUB, reason);
    w.effects.push({ type: 'answer-gate', outcome: 'rejected', reason });
    announce(w, 'rejected', reason);
    return done(w);
  }
  if (pre.blocks.length > 0) {
    const first = w.c.state !== 'awaiting-prerequisites';
    note(w, 'prerequisites-missing', HUB, { block: pre.blocks });
    if (first) {
      move(w, 'awaiting-prerequisites', by, null);
      scheduleRequestExpiry(w);
    }
    announce(w, 'awaiting-prerequisites', `Waiting for: ${pre.blocks.map((b) => `${b.message} [${b.id}]`).join('; ')}`);
    return done(w);
  }
  openPlan(w, a, by);
  return done(w);
}

function scheduleRequestExpiry(w: Work): void {
  const m = w.ctx.policy.expiry.requestMinutes;
  if (m) w.effects.push({ type: 'schedule', timer: 'expiry', at: addMinutes(new Date(w.c.createdAt), m).toISOString(), stepId: null });
}

/** Step templates of the plan, in order: anomaly scrutiny first, then matching routes, then windows. */
function planTemplates(policy: CompiledPolicy, a: Assessment): { route: string; index: number; tpl: StepTemplate }[] {
  const out: { route: string; index: number; tpl: StepTemplate }[] = [];
  if (policy.anomaly && a.risk.anomaly?.flagged) out.push({ route: 'anomaly', index: 1, tpl: policy.anomaly.step });
  for (const r of policy.routes) {
    if (!r.when.test(a.ctx)) continue;
    r.steps.forEach((tpl, i) => out.push({ route: r.id, index: i + 1, tpl }));
  }
  for (const ws of a.windowSteps) {
    const win = policy.windows.find((x) => x.id === ws.window)!;
    out.push({ route: `window:${ws.window}`, index: win.steps.indexOf(ws.step) + 1, tpl: ws.step });
  }
  return out;
}

export function templateFor(policy: CompiledPolicy, step: Pick<Step, 'id' | 'route'>): StepTemplate | null {
  const index = Number(step.id.slice(step.id.lastIndexOf('#') + 1)) - 1;
  if (step.route === 'anomaly') return policy.anomaly?.step ?? null;
  if (step.route === 'emergency') return policy.emergency?.step ?? null;
  if (step.route.startsWith('window:')) return policy.windows.find((x) => `window:${x.id}` === step.route)?.steps[index] ?? null;
  return policy.routes.find((r) => r.id === step.route)?.steps[index] ?? null;
}

function makeStep(route: string, index: number, tpl: StepTemplate, ctx: CelContext): Step {
  const approvers = { ...tpl.approversRecord };
  if (tpl.approvers.team) {
    let team: unknown;
    try {
      team = tpl.approvers.team.value(ctx);
    } catch {
      team = null;
    }
    // An unresolvable team names nobody rather than every team: eligibility never widens by accident.
    approvers.team = typeof team === 'string' && team !== '' ? team : '(unresolved team)';
  }
  return {
    id: `${route}#${index}`,
    name: tpl.name,
    route,
    approvers,
    eligible: [],
    quorum: tpl.quorum,
    slaMinutes: tpl.slaMinutes,
    expiresAt: null,
    state: 'waiting',
    openedAt: null,
    decidedAt: null,
    escalations: [],
  };
}

function openPlan(w: Work, a: Assessment, by: Actor): void {
  const templates = planTemplates(w.ctx.policy, a);
  w.c.steps = templates.map((t) => makeStep(t.route, t.index, t.tpl, a.ctx));
  // Each step names the policy rule (file:line) that required it: the control an auditor asks about.
  note(w, 'plan-built', HUB, { tier: a.risk.tier, steps: templates.map((t, i) => ({ id: w.c.steps[i]!.id, name: t.tpl.name, quorum: t.tpl.quorum, rule: `${t.tpl.origin.file}:${t.tpl.origin.line}` })) });
  if (w.c.steps.length === 0 && !w.ctx.policy.routes.some((r) => r.when.test(a.ctx))) {
    // No route covers the change at all: a gap in the policy must not become a silent approval.
    const reason = `Auto-rejected: no approval route in the policy covers this change (type ${w.c.type}, ${w.c.environment}, risk ${a.risk.tier})`;
    move(w, 'rejected', HUB, reason);
    w.effects.push({ type: 'answer-gate', outcome: 'rejected', reason });
    announce(w, 'rejected', reason);
    return;
  }
  if (w.c.steps.length === 0) {
    const reason = `Pre-approved: the matching route requires no approval (risk ${a.risk.tier}, score ${a.risk.score})`;
    move(w, 'approved', HUB, reason);
    w.effects.push({ type: 'answer-gate', outcome: 'approved', reason });
    announce(w, 'approved', reason);
    return;
  }
  move(w, 'pending-approval', by, null);
  scheduleRequestExpiry(w);
  advance(w);
  announce(w, 'approval-requested', `Approval requested (risk ${a.risk.tier}, score ${a.risk.score}${a.risk.anomaly?.flagged ? `, anomaly: ${a.risk.anomaly.reasons.join('; ')}` : ''}): ${w.c.steps.map((s) => s.name).join(' → ')}`);
}

function openStep(w: Work, step: Step): void {
  const { directory, now } = w.ctx;
  step.state = 'open';
  step.openedAt = w.nowIso;
  const el = eligibility(step, w.c, directory, now, w.ctx.policy.delegation.fallbackOncall);
  step.eligible = [...el.direct, ...[...el.delegates.keys()].filter((d) => !el.direct.includes(d))];
  note(w, 'step-opened', HUB, { stepId: step.id, name: step.name, eligible: step.eligible, quorum: step.quorum });
  for (const [delegate, forWhom] of el.delegates) {
    const ooo = directory.people[forWhom]?.outOfOffice;
    const via = ooo?.delegate === delegate ? 'their recorded delegate' : `on call (${w.ctx.policy.delegation.fallbackOncall})`;
    note(w, 'delegation', HUB, { stepId: step.id, delegate, onBehalfOf: forWhom, until: ooo?.until ?? null, via }, `${forWhom} is out of office until ${ooo?.until}; ${delegate}, ${via}, may decide on their behalf`);
  }
  if (step.eligible.length === 0) {
    announce(w, 'no-eligible-approver', `Nobody is eligible to approve "${step.name}" (the requester is excluded); escalating`);
    escalate(w, step, 0, 'nobody eligible when the step opened');
  }
  w.effects.push({ type: 'request-approval', stepId: step.id, approvers: step.eligible });
  scheduleSla(w, step);
}

/** Business minutes are counted in each approver's working hours; the slowest clock decides. */
function clockPeople(w: Work, step: Step): string[] {
  return allowed(resolveApprovers(step.approvers, w.c, w.ctx.directory), w.c, w.ctx.directory);
}

/** One person per distinct (time zone, working hours): people sharing a calendar share a clock. */
function distinctCalendars(w: Work, ids: string[]): Person[] {
  const seen = new Map<string, Person>();
  for (const id of ids) {
    const p = w.ctx.directory.people[id]!;
    const key = `${p.timeZone}|${p.workingHours ? `${p.workingHours.start}-${p.workingHours.end}-${p.workingHours.days.join('')}` : 'always'}`;
    if (!seen.has(key)) seen.set(key, p);
  }
  return [...seen.values()];
}

function ladder(w: Work, step: Step): { afterMinutes: number; text: string; to: CompiledPolicy['escalation']['ladder'][number]['to'] }[] {
  const base = w.ctx.policy.escalation.ladder;
  if (base.length === 0 || step.slaMinutes === null) return base;
  // A step's own SLA replaces the first rung's delay; later rungs keep their spacing.
  const shift = step.slaMinutes - base[0]!.afterMinutes;
  return base.map((r) => ({ ...r, afterMinutes: r.afterMinutes + shift }));
}

function dueAt(w: Work, step: Step, minutes: number): Date {
  const opened = new Date(step.openedAt ?? w.nowIso);
  const people = clockPeople(w, step);
  if (w.ctx.policy.escalation.clock === 'wall' || people.length === 0) return addMinutes(opened, minutes);
  let latest = 0;
  for (const p of distinctCalendars(w, people)) latest = Math.max(latest, addBusinessMinutes(p, opened, minutes, w.ctx.directory.holidays).getTime());
  return new Date(latest);
}

function scheduleSla(w: Work, step: Step): void {
  const rung = ladder(w, step)[step.escalations.length];
  if (rung) w.effects.push({ type: 'schedule', timer: 'sla', at: dueAt(w, step, rung.afterMinutes).toISOString(), stepId: step.id });
  else if (step.slaMinutes !== null && step.escalations.length === 0) w.effects.push({ type: 'schedule', timer: 'sla', at: dueAt(w, step, step.slaMinutes).toISOString(), stepId: step.id });
}

function elapsedMinutes(w: Work, step: Step): number {
  const opened = new Date(step.openedAt ?? w.nowIso);
  const people = clockPeople(w, step);
  if (w.ctx.policy.escalation.clock === 'wall' || people.length === 0) return (w.ctx.now.getTime() - opened.getTime()) / 60_000;
  let least = Infinity;
  for (const p of distinctCalendars(w, people)) least = Math.min(least, businessMinutesBetween(p, opened, w.ctx.now, w.ctx.directory.holidays));
  return least;
}

function escalationTargets(w: Work, step: Step, rungIndex: number): string[] {
  const { directory, policy } = w.ctx;
  const rung = ladder(w, step)[rungIndex];
  if (!rung) return [];
  // Managers of everyone the step names, the requester included: their manager may stand in even
  // though they themselves never can.
  const approvers = resolveApprovers(step.approvers, w.c, directory);
  switch (rung.to.kind) {
    case 'alternate': {
      const alt = templateFor(policy, step)?.alternate;
      if (alt) {
        const team = step.approvers.team;
        return resolveApprovers({ group: alt.group, role: alt.role, team: alt.team ? team : undefined, manager: alt.manager, oncall: alt.oncall, people: alt.people }, w.c, directory);
      }
      // No alternate declared for the step: the approvers' managers stand in.
      return approvers.map((id) => directory.people[id]?.manager).filter((m): m is string => !!m);
    }
    case 'manager': {
      const managers = approvers.map((id) => directory.people[id]?.manager).filter((m): m is string => !!m);
      return managers.length ? managers : [directory.people[w.c.requester]?.manager].filter((m): m is string => !!m);
    }
    case 'oncall': return directory.oncall[rung.to.schedule] ?? [];
    case 'group': {
      const g = rung.to.group;
      return Object.values(directory.people).filter((p) => p.groups.includes(g)).map((p) => p.id);
    }
  }
}

function escalate(w: Work, step: Step, rungIndex: number, why: string): void {
  const rungs = ladder(w, step);
  const rung = rungs[rungIndex];
  if (!rung) {
    step.escalations.push({ at: w.nowIso, to: [], level: rungIndex + 1 });
    note(w, 'escalation-exhausted', HUB, { stepId: step.id }, why);
    return;
  }
  const to = allowed(escalationTargets(w, step, rungIndex), w.c, w.ctx.directory).filter((id) => !step.eligible.includes(id));
  step.escalations.push({ at: w.nowIso, to, level: rungIndex + 1 });
  step.eligible = [...step.eligible, ...to];
  note(w, 'escalated', HUB, { stepId: step.id, level: rungIndex + 1, to, rung: rung.text }, why);
  w.effects.push({ type: 'escalate', stepId: step.id, to, level: rungIndex + 1 });
  announce(w, 'escalated', `"${step.name}" escalated to ${rung.text}${to.length ? ` (${to.join(', ')})` : ' (nobody found)'}: ${why}`);
}

/** Opens the next waiting step, or finishes the plan. */
function advance(w: Work): void {
  const next = w.c.steps.find((s) => s.state === 'waiting');
  if (next) {
    openStep(w, next);
    return;
  }
  planSatisfied(w);
}

function planSatisfied(w: Work): void {
  const c = w.c;
  if (c.type === 'emergency') {
    const em = w.ctx.policy.emergency!;
    const until = addMinutes(w.ctx.now, em.validityMinutes).toISOString();
    c.deadlines = { ...c.deadlines, emergencyValidUntil: until };
    const reason = `Emergency approved; the deployment must be validated by ${until}`;
    move(w, 'emergency-approved', HUB, reason);
    w.effects.push({ type: 'answer-gate', outcome: 'approved', reason });
    w.effects.push({ type: 'schedule', timer: 'emergency-validity', at: until, stepId: null });
    announce(w, 'emergency-approved', reason);
    return;
  }
  const reason = `Approved: ${c.steps.map((s) => s.name).join(', ')} (risk ${c.risk?.tier ?? 'unknown'})`;
  move(w, 'approved', HUB, reason);
  w.effects.push({ type: 'answer-gate', outcome: 'approved', reason });
  announce(w, 'approved', reason);
}

// --- emergency ----------------------------------------------------------------------------------------

function submitEmergency(w: Work, a: Assessment): DecideResult {
  const em = w.ctx.policy.emergency;
  const c = w.c;
  const rejectWith = (reason: string) => {
    move(w, 'rejected', HUB, reason);
    w.effects.push({ type: 'answer-gate', outcome: 'rejected', reason });
    announce(w, 'rejected', reason);
    return done(w);
  };
  if (!em) return rejectWith('Auto-rejected: the policy has no emergency path');
  if (!em.when.test(a.ctx)) return rejectWith(`Auto-rejected: emergency criteria not met (${em.when.source})`);
  if (!c.justification?.trim() && c.incident) {
    c.justification = `Incident ${c.incident.id} (${c.incident.priority ?? 'no priority'}, ${c.incident.status}): ${c.incident.title}`;
    note(w, 'justification-prefilled', HUB, { justification: c.justification, incident: c.incident.id });
  }
  if (em.justificationRequired && !c.justification?.trim()) return rejectWith('Auto-rejected: an emergency change needs a justification (or a linked incident to take it from)');
  c.steps = [makeStep('emergency', 1, em.step, a.ctx)];
  note(w, 'plan-built', HUB, { tier: a.risk.tier, emergency: true, steps: c.steps.map((s) => ({ id: s.id, name: s.name })) });
  move(w, 'pending-approval', HUB, c.justification);
  openStep(w, c.steps[0]!);
  announce(w, 'emergency-requested', `Emergency change: ${c.justification}`);
  return done(w);
}

// --- decisions ----------------------------------------------------------------------------------------

function validApprovals(c: Change, step: Step, now: Date): Decision[] {
  return c.decisions.filter((d) => d.stepId === step.id && d.outcome === 'approve' && (!d.expiresAt || Date.parse(d.expiresAt) > now.getTime()));
}

function quorumMet(w: Work, step: Step): boolean {
  const el = eligibility(step, w.c, w.ctx.directory, w.ctx.now, w.ctx.policy.delegation.fallbackOncall);
  const principals = new Set(validApprovals(w.c, step, w.ctx.now).map((d) => d.onBehalfOf ?? d.actor).filter((p) => el.direct.includes(p)));
  if (step.quorum === 'all') return el.direct.length > 0 && el.direct.every((p) => principals.has(p));
  return principals.size >= step.quorum;
}

function decideStep(w: Work, d: Decision): DecideResult {
  const c = w.c;
  const { policy, directory, now } = w.ctx;
  if (c.state !== 'pending-approval') return refuse('not-pending', `change ${c.id} is ${c.state}; decisions are accepted only while it is pending approval`);
  // Separation of duties first: whatever step, delegation or escalation, the requester never decides.
  if (d.actor === c.requester || d.onBehalfOf === c.requester) {
    return refuse('separation-of-duties', `${c.requester} requested this change and cannot approve or reject it (separation of duties)`);
  }
  const step = d.stepId ? c.steps.find((s) => s.id === d.stepId) : c.steps.find((s) => s.state === 'open');
  if (!step) return refuse('unknown-step', d.stepId ? `change ${c.id} has no step ${d.stepId}` : `change ${c.id} has no open step`);
  if (step.state !== 'open') return refuse('step-not-open', `step "${step.name}" is ${step.state}, not open`);
  const el = eligibility(step, c, directory, now, policy.delegation.fallbackOncall);
  let principal: string;
  let onBehalfOf: string | null = null;
  const isOverride = d.kind === 'override';
  if (isOverride && !el.direct.includes(d.actor)) {
    // A manual override (S7: the system of record is down) comes from a hub admin, whom the pipeline
    // has role-checked; it need not be an eligible approver, but it must be a known, active person,
    // carry a justification (checked below) and is recorded as an override.
    const person = directory.people[d.actor];
    if (!person || !person.active) return refuse('not-eligible', `${d.actor} is not an active person in the directory and cannot record an override`);
    if (step.route === 'emergency') return refuse('not-eligible', 'an emergency change is approved only by designated emergency approvers, never by override');
    principal = d.actor;
  } else if (d.onBehalfOf) {
    if (!el.direct.includes(d.onBehalfOf)) return refuse('not-eligible', `${d.onBehalfOf} is not an eligible approver for "${step.name}" at ${w.nowIso}, so nobody can decide on their behalf`);
    if (el.delegates.get(d.actor) !== d.onBehalfOf) return refuse('not-delegate', `${d.actor} is not a recorded delegate of ${d.onBehalfOf} at ${w.nowIso}`);
    principal = d.onBehalfOf;
    onBehalfOf = d.onBehalfOf;
  } else if (el.direct.includes(d.actor)) {
    principal = d.actor;
  } else if (el.delegates.has(d.actor)) {
    principal = el.delegates.get(d.actor)!;
    onBehalfOf = principal;
  } else {
    const person = directory.people[d.actor];
    const why = !person ? 'is not in the directory' : !person.active ? 'is no longer active in the directory' : 'is not among the eligible approvers';
    return refuse('not-eligible', step.route === 'emergency'
      ? `${d.actor} ${why}: only designated emergency approvers may approve an emergency change`
      : `${d.actor} ${why} for "${step.name}" at ${w.nowIso}`);
  }
  if (validApprovals(c, step, now).some((x) => (x.onBehalfOf ?? x.actor) === principal) || c.decisions.some((x) => x.stepId === step.id && x.outcome === 'reject' && (x.onBehalfOf ?? x.actor) === principal)) {
    return refuse('already-decided', `${principal} already decided on "${step.name}"`);
  }
  let kind = d.kind;
  const rationale = d.rationale?.trim() ?? '';
  const min = policy.riskAcceptance.minJustificationLength;
  const tpl = templateFor(policy, step);
  if (d.outcome === 'approve' && (tpl?.reviewsFlag || step.route === 'anomaly')) {
    // Approving a step that reviews an automated flag overrides that flag: it is a risk acceptance.
    if (rationale.length < min) return refuse('justification-required', `approving "${step.name}" accepts the flagged risk (${c.risk?.anomaly?.reasons.join('; ') || 'automated flag'}); give a justification of at least ${min} characters`);
    kind = 'risk-acceptance';
  }
  if ((kind === 'risk-acceptance' || kind === 'override') && rationale.length < min) {
    return refuse('justification-required', `a ${kind} needs a justification of at least ${min} characters`);
  }
  const expiryMinutes = step.route === 'emergency' ? null : (tpl?.expiryMinutes ?? policy.expiry.approvalMinutes);
  const expiresAt = d.outcome === 'approve' ? (d.expiresAt ?? (expiryMinutes ? addMinutes(now, expiryMinutes).toISOString() : null)) : null;
  const decision: Decision = { ...d, at: d.at || w.nowIso, onBehalfOf, stepId: step.id, kind, expiresAt };
  c.decisions.push(decision);
  c.updatedAt = w.nowIso;
  const by = { actor: d.actor, sourceTool: d.sourceTool };
  note(w, kind === 'risk-acceptance' ? 'risk-accepted' : kind === 'override' ? 'override' : 'decision', by, { stepId: step.id, outcome: d.outcome, onBehalfOf, kind, expiresAt }, d.rationale);
  if (onBehalfOf) note(w, 'delegated-decision', by, { stepId: step.id, delegate: d.actor, onBehalfOf }, `decided for ${onBehalfOf}, who is out of office`);
  // Before the state effects: the system of record's approval engine must hold the decision before it accepts the state.
  w.effects.push({ type: 'record-decision', stepId: step.id, outcome: d.outcome, approver: principal, rationale: d.rationale, sourceTool: d.sourceTool });
  if (expiresAt) w.effects.push({ type: 'schedule', timer: 'expiry', at: expiresAt, stepId: step.id });

  if (d.outcome === 'reject') {
    step.state = 'rejected';
    step.decidedAt = w.nowIso;
    const reason = `Rejected by ${d.actor}${onBehalfOf ? ` for ${onBehalfOf}` : ''} at "${step.name}"${rationale ? `: ${rationale}` : ''}`;
    move(w, 'rejected', by, reason);
    w.effects.push({ type: 'answer-gate', outcome: 'rejected', reason });
    announce(w, 'rejected', reason);
    return done(w);
  }
  if (isOverride || quorumMet(w, step)) {
    step.state = 'approved';
    step.decidedAt = w.nowIso;
    // The step stays approved until its first counted approval lapses.
    const expiries = validApprovals(c, step, now).map((x) => x.expiresAt).filter((x): x is string => !!x).sort();
    step.expiresAt = expiries[0] ?? null;
    note(w, 'step-approved', HUB, { stepId: step.id, name: step.name });
    advance(w);
  }
  return done(w);
}

// --- timers -------------------------------------------------------------------------------------------

/**
 * An approved step whose approvals have expired. Only time lapses an approval here: who was eligible
 * was settled when each decision was taken, so a later directory change does not reopen a step.
 */
function hasLapsed(w: Work): Step | null {
  for (const s of w.c.steps) {
    if (s.state !== 'approved' || s.route === 'emergency') continue;
    const all = w.c.decisions.filter((d) => d.stepId === s.id && d.outcome === 'approve');
    const stillValid = validApprovals(w.c, s, w.ctx.now);
    if (stillValid.some((d) => d.kind === 'override')) continue;
    const valid = new Set(stillValid.map((d) => d.onBehalfOf ?? d.actor));
    const need = s.quorum === 'all' ? new Set(all.map((d) => d.onBehalfOf ?? d.actor)).size : s.quorum;
    if (valid.size < need) return s;
  }
  return null;
}

/** Re-evaluates risk and plan; approvals that are still valid keep counting for steps that remain. */
function reevaluate(w: Work, why: string): void {
  const a = assessRisk(w.c, w.ctx.policy, w.ctx.history, w.ctx.directory, w.ctx.now);
  w.c.risk = a.risk;
  note(w, 'risk-scored', HUB, a.risk, why);
  const templates = w.c.type === 'emergency' && w.ctx.policy.emergency
    ? [{ route: 'emergency', index: 1, tpl: w.ctx.policy.emergency.step }]
    : planTemplates(w.ctx.policy, a);
  w.c.steps = templates.map((t) => makeStep(t.route, t.index, t.tpl, a.ctx));
  note(w, 'plan-built', HUB, { tier: a.risk.tier, steps: w.c.steps.map((s) => ({ id: s.id, name: s.name, quorum: s.quorum })) }, why);
  for (const s of w.c.steps) {
    if (!quorumMet(w, s)) break;
    s.state = 'approved';
    s.decidedAt = w.nowIso;
  }
  advance(w);
}

function tick(w: Work): DecideResult {
  const c = w.c;
  const { policy, now } = w.ctx;
  const requestMinutes = policy.expiry.requestMinutes;
  if ((c.state === 'pending-approval' || c.state === 'awaiting-prerequisites') && c.type !== 'emergency' && requestMinutes
    && addMinutes(new Date(c.createdAt), requestMinutes) <= now) {
    const reason = `Expired: no complete approval within ${requestMinutes / 60}h of the request`;
    for (const s of c.steps) if (s.state === 'open' || s.state === 'waiting') s.state = 'expired';
    move(w, 'expired', HUB, reason);
    w.effects.push({ type: 'answer-gate', outcome: 'rejected', reason });
    announce(w, 'expired', reason);
    return done(w);
  }
  if (c.state === 'approved' || c.state === 'pending-approval') {
    const lapsed = hasLapsed(w);
    if (lapsed) {
      const why = `approval of "${lapsed.name}" lapsed; re-evaluating`;
      note(w, 'approval-lapsed', HUB, { stepId: lapsed.id }, why);
      if (c.state === 'approved') move(w, 'pending-approval', HUB, why);
      reevaluate(w, why);
      return done(w);
    }
  }
  if (c.state === 'pending-approval') {
    const step = c.steps.find((s) => s.state === 'open');
    if (step) {
      const rungs = ladder(w, step);
      let fired = false;
      while (step.escalations.length < rungs.length) {
        const rung = rungs[step.escalations.length]!;
        const elapsed = elapsedMinutes(w, step);
        if (elapsed < rung.afterMinutes) break;
        escalate(w, step, step.escalations.length, `no decision after ${rung.afterMinutes / 60}h (${policy.escalation.clock === 'business' ? 'business hours in the approvers\' time zones' : 'wall clock'})`);
        fired = true;
      }
      if (fired) {
        w.effects.push({ type: 'request-approval', stepId: step.id, approvers: step.eligible });
        scheduleSla(w, step);
      }
    }
  }
  if ((c.state === 'emergency-approved' || c.state === 'implementing') && c.type === 'emergency' && c.deadlines.emergencyValidUntil
    && Date.parse(c.deadlines.emergencyValidUntil) <= now.getTime() && !c.labels['emergency-validity-expired']) {
    const reason = `Emergency deployment not validated by ${c.deadlines.emergencyValidUntil}`;
    c.labels['emergency-validity-expired'] = w.nowIso;
    const em = policy.emergency;
    if (!em || em.onValidityExpired === 'rollback') {
      w.effects.push({ type: 'rollback', reason });
      move(w, 'rolled-back', HUB, reason);
      openReview(w);
    } else {
      note(w, 'emergency-validity-expired', HUB, { validUntil: c.deadlines.emergencyValidUntil }, reason);
    }
    announce(w, 'emergency-validity-expired', reason);
  }
  if (c.state === 'review-pending' && c.deadlines.pirDueAt && Date.parse(c.deadlines.pirDueAt) <= now.getTime() && !c.labels['pir-overdue']) {
    c.labels['pir-overdue'] = w.nowIso;
    const to = policy.emergency ? allowed(resolveApprovers(policy.emergency.pir.signoffRecord, c, w.ctx.directory), c, w.ctx.directory) : [];
    note(w, 'pir-overdue', HUB, { dueAt: c.deadlines.pirDueAt, to });
    w.effects.push({ type: 'escalate', stepId: 'pir', to, level: 1 });
    announce(w, 'pir-overdue', `The post-implementation review was due ${c.deadlines.pirDueAt}`);
  }
  return done(w);
}

// --- manual transitions and the review ----------------------------------------------------------------

/** States the plan decides; tools and people cannot set them directly. */
const ENGINE_OWNED: ReadonlySet<ChangeState> = new Set(['draft', 'awaiting-prerequisites', 'pending-approval', 'approved', 'emergency-approved', 'rejected', 'expired', 'review-pending']);

function openReview(w: Work): void {
  const em = w.ctx.policy.emergency;
  const within = em?.pir.withinMinutes ?? 5 * 1440;
  const due = addMinutes(w.ctx.now, within).toISOString();
  w.c.deadlines = { ...w.c.deadlines, pirDueAt: due };
  move(w, 'review-pending', HUB, `Post-implementation review due by ${due}`);
  w.effects.push({ type: 'schedule', timer: 'pir', at: due, stepId: null });
  // The retro sign-off is asked for like a step; `pir` is its step id in effects.
  const signers = em ? allowed(resolveApprovers(em.pir.signoffRecord, w.c, w.ctx.directory), w.c, w.ctx.directory) : [];
  w.effects.push({ type: 'request-approval', stepId: 'pir', approvers: signers });
  announce(w, 'review-pending', `Emergency change: post-implementation review with retro sign-off due by ${due}`);
}

function manualTransition(w: Work, to: ChangeState, by: Actor, rationale: string | null): DecideResult {
  const c = w.c;
  if (!canTransition(c.state, to)) return refuse('illegal-transition', whyNot(c.state, to));
  if (ENGINE_OWNED.has(to)) return refuse('engine-owned', `state ${to} follows from the approval plan and cannot be set directly`);
  if (to === 'closed' && c.type === 'emergency') return refuse('review-required', 'an emergency change closes only after its post-implementation review is signed off');
  if (to === 'implementing' && c.state === 'approved' && hasLapsed(w)) return refuse('approval-lapsed', 'an approval has lapsed; the change is re-evaluated before it may be implemented');
  if (to === 'cancelled' && !rationale?.trim() && by.actor !== c.requester) return refuse('justification-required', 'cancelling someone else\'s change needs a rationale');
  move(w, to, by, rationale);
  if (to === 'cancelled') {
    for (const s of c.steps) if (s.state === 'open' || s.state === 'waiting') s.state = 'skipped';
    w.effects.push({ type: 'answer-gate', outcome: 'rejected', reason: `Cancelled by ${by.actor}${rationale ? `: ${rationale}` : ''}` });
  }
  announce(w, to, `${c.title}: ${to}${rationale ? ` (${rationale})` : ''}`);
  if (c.type === 'emergency' && (to === 'implemented' || to === 'rolled-back')) openReview(w);
  return done(w);
}

function pirSignoff(w: Work, by: Actor, notes: string | null): DecideResult {
  const c = w.c;
  if (c.state !== 'review-pending') return refuse('not-in-review', `change ${c.id} is ${c.state}; a review sign-off needs review-pending`);
  if (by.actor === c.requester) return refuse('separation-of-duties', `${c.requester} requested this change and cannot sign off its review (separation of duties)`);
  const em = w.ctx.policy.emergency;
  const eligible = em ? allowed(resolveApprovers(em.pir.signoffRecord, c, w.ctx.directory), c, w.ctx.directory) : [];
  if (!eligible.includes(by.actor)) return refuse('not-eligible', `${by.actor} may not sign off the post-implementation review (eligible: ${eligible.join(', ') || 'nobody'})`);
  c.pir = { signedOffBy: by.actor, at: w.nowIso, notes };
  note(w, 'pir-signed-off', by, c.pir, notes);
  move(w, 'closed', by, 'post-implementation review signed off');
  announce(w, 'closed', `Post-implementation review signed off by ${by.actor}`);
  return done(w);
}

// --- updates ------------------------------------------------------------------------------------------

const UPDATABLE = new Set(['title', 'description', 'artifacts', 'rollback', 'justification', 'incident', 'plannedWindow', 'size', 'services', 'configurationItems', 'dataClass', 'labels', 'environment', 'team', 'region']);

function update(w: Work, fields: Partial<Change>, by: Actor): DecideResult {
  const c = w.c;
  if (TERMINAL.has(c.state)) return refuse('final-state', `change ${c.id} is ${c.state}; it can no longer be updated`);
  const bad = Object.keys(fields).filter((k) => !UPDATABLE.has(k));
  if (bad.length) return refuse('field-not-updatable', `${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} set by the engine, not by updates (updatable: ${[...UPDATABLE].join(', ')})`);
  const before: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    before[k] = (c as unknown as Record<string, unknown>)[k] ?? null;
    if (k === 'artifacts' || k === 'labels') (c as unknown as Record<string, unknown>)[k] = { ...((c as unknown as Record<string, Record<string, unknown>>)[k] ?? {}), ...(v as Record<string, unknown>) };
    else (c as unknown as Record<string, unknown>)[k] = structuredClone(v);
  }
  c.updatedAt = w.nowIso;
  note(w, 'updated', by, fields, null, before);
  if (c.state === 'awaiting-prerequisites') {
    const a = assessRisk(c, w.ctx.policy, w.ctx.history, w.ctx.directory, w.ctx.now);
    c.risk = a.risk;
    return afterPrerequisites(w, a, HUB);
  }
  if (c.state === 'pending-approval' && c.type !== 'emergency') {
    const a = assessRisk(c, w.ctx.policy, w.ctx.history, w.ctx.directory, w.ctx.now);
    const keys = planTemplates(w.ctx.policy, a).map((t) => `${t.route}#${t.index}`).join(',');
    if (keys !== c.steps.map((s) => s.id).join(',') || a.risk.tier !== c.risk?.tier) reevaluate(w, 'the change was updated and its plan changed');
    else c.risk = a.risk;
  }
  return done(w);
}
