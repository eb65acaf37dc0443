// Engine benchmark (PRODUCT.md §10: a 200-rule policy evaluates in under 1 ms per change at p99,
// compiled once). Generates a policy of 200 rules (risk factors, prerequisites and routes with CEL
// conditions of the usual shapes), compiles it once, then times decide(submit) — risk, windows,
// anomaly, prerequisites, routing and approver resolution against a 300-person directory — for
// 20 000 generated changes with process.hrtime. Wall-clock percentiles include time the OS gave to
// other processes, so each change is also decided three times and the fastest of the three counted
// ("best of 3"): a preemption rarely hits all three, so that p99 is the engine's cost on a busy
// machine. Both are reported, with the load average.
import { loadavg } from 'node:os';
import { compilePolicy } from '../src/core/policy/compile.ts';
import { decide } from '../src/core/engine.ts';
import { parseChangeInput } from '../src/core/change-schema.ts';
import type { Change, Directory, History, Person } from '../src/core/types.ts';
import { percentile } from './support.ts';

const FACTORS = 80;
const PREREQUISITES = 40;
const ROUTES = 80; // 80 + 40 + 80 = 200 rules
const CHANGES = 20_000;
const WARMUP = 2_000;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function generatePolicy(): unknown {
  const factorShapes = [
    (i: number) => `change.environment == 'env-${i % 7}'`,
    (i: number) => `'svc-${i}' in change.services`,
    (i: number) => `size(change.services) > ${i % 6}`,
    (i: number) => `history.incidentRate >= ${((i % 10) / 20).toFixed(2)} && history.similarCount >= ${i % 5}`,
    (i: number) => `change.team == 'team-${i % 20}' && change.dataClass in ['pii', 'phi', 'financial']`,
    (i: number) => `has(change.artifacts.testCoverage) && change.artifacts.testCoverage < ${(0.3 + (i % 6) / 10).toFixed(1)}`,
    (i: number) => `'class-${i % 9}' in change.ciClasses`,
    (i: number) => `window.businessHours && change.environment == 'env-${i % 7}'`,
  ];
  const factors = Array.from({ length: FACTORS }, (_, i) => ({ id: `f${i}`, when: factorShapes[i % factorShapes.length]!(i), points: 1 + (i % 9) }));
  const prerequisites = Array.from({ length: PREREQUISITES }, (_, i) => ({
    id: `p${i}`,
    when: `change.environment == 'env-${i % 7}' && change.team == 'team-${i % 20}'`,
    require: i % 2 ? `has(change.artifacts.rollbackPlan)` : `!has(change.artifacts.staticAnalysis) || change.artifacts.staticAnalysis.critical == 0`,
    onFail: i % 3 ? 'block' : 'reject',
  }));
  const routeShapes = [
    (i: number) => `risk.tier == 'high' && change.team == 'team-${i % 20}'`,
    (i: number) => `risk.score >= ${(i * 7) % 90} && 'svc-${i}' in change.services`,
    (i: number) => `change.environment == 'env-${i % 7}' && risk.tier != 'low'`,
    (i: number) => `'class-${i % 9}' in change.ciClasses && change.region == 'region-${i % 4}'`,
  ];
  const routes = Array.from({ length: ROUTES }, (_, i) => ({
    id: `r${i}`,
    when: routeShapes[i % routeShapes.length]!(i),
    steps: [i % 2 ? { name: `Group ${i}`, approvers: { group: `group-${i % 25}` }, quorum: 1 + (i % 2), sla: '4h' } : { name: `Lead ${i}`, approvers: { role: 'tech-lead', team: 'change.team' }, sla: '8h' }],
  }));
  return {
    version: 1,
    risk: { factors, tiers: { low: 0, medium: 30, high: 60 }, anomaly: { threshold: 3.5, minSamples: 8, step: { name: 'Anomaly scrutiny', approvers: { group: 'group-0' } } } },
    windows: [
      { id: 'peak', kind: 'business-hours', timeZone: 'America/New_York', from: '10:00', until: '16:00', raiseTierTo: 'medium' },
      { id: 'freeze', kind: 'freeze', raiseTierTo: 'high' },
      { id: 'holiday', kind: 'holiday', timeZone: 'Europe/London', raiseTierTo: 'high' },
    ],
    prerequisites,
    routes,
    escalation: { clock: 'business', ladder: [{ after: '4h', to: 'alternate' }, { after: '8h', to: 'manager' }] },
    expiry: { approval: '72h', request: '14d' },
  };
}

function generateDirectory(): Directory {
  const people: Record<string, Person> = {};
  const zones = ['Europe/London', 'America/New_York', 'Asia/Tokyo', 'Europe/Berlin'];
  for (let i = 0; i < 300; i++) {
    const id = `person${i}@bench.example`;
    people[id] = {
      id,
      name: `Person ${i}`,
      timeZone: zones[i % zones.length]!,
      workingHours: { start: '09:00', end: '17:00', days: [1, 2, 3, 4, 5] },
      manager: i === 0 ? null : `person${Math.floor(i / 10)}@bench.example`,
      groups: [`group-${i % 25}`],
      roles: [{ role: i % 15 === 0 ? 'tech-lead' : 'engineer', team: `team-${i % 20}` }],
      active: true,
      outOfOffice: null,
    };
  }
  return { people, oncall: { ops: ['person1@bench.example'] }, holidays: ['2026-12-25'], freezes: [] };
}

function generateChanges(n: number): { change: Change; history: History; now: Date }[] {
  const r = rng(42);
  const out: { change: Change; history: History; now: Date }[] = [];
  const classes = ['database', 'network', 'application', 'class-1', 'class-4'];
  for (let i = 0; i < n; i++) {
    const now = new Date(Date.UTC(2026, 10, 2 + Math.floor(r() * 20), Math.floor(r() * 24), Math.floor(r() * 60)));
    const services = Array.from({ length: 1 + Math.floor(r() * 6) }, () => `svc-${Math.floor(r() * 100)}`);
    const input = parseChangeInput({
      title: `Change ${i}`,
      environment: `env-${Math.floor(r() * 7)}`,
      services,
      configurationItems: [{ id: `ci-${i}`, name: `ci-${i}`, class: classes[Math.floor(r() * classes.length)]! }],
      dataClass: r() < 0.3 ? 'pii' : null,
      requester: `person${Math.floor(r() * 300)}@bench.example`,
      team: `team-${Math.floor(r() * 20)}`,
      region: `region-${Math.floor(r() * 4)}`,
      artifacts: { ...(r() < 0.9 ? { rollbackPlan: 'revert' } : {}), testCoverage: Math.round(r() * 100) / 100 },
      size: { linesChanged: Math.floor(r() * 2000), filesChanged: 1 + Math.floor(r() * 40) },
    }, { id: `chg-${i}`, now });
    if (!input.ok) throw new Error(JSON.stringify(input.errors));
    const history: History = {
      incidentRate: r() * 0.5,
      similarCount: Math.floor(r() * 10),
      teamChangesLast7d: Math.floor(r() * 12),
      medianTeamChangesPerWeek: 3,
      baseline: { sizes: [120, 300, 80, 450, 200, 90, 60, 700, 150, 220], hoursOfDay: [9, 10, 11, 14, 15, 10, 9, 16, 13, 11], weeklyCounts: [2, 3, 4, 3, 2, 5, 3, 4] },
    };
    out.push({ change: input.change, history, now });
  }
  return out;
}


export async function benchPolicy(): Promise<{ name: string; figures: Record<string, number | string> }[]> {
  const directory = generateDirectory();
  const t0 = process.hrtime.bigint();
  const compiled = compilePolicy(generatePolicy(), { file: 'generated-200-rules.yaml', lineOf: () => 0 }, { directory });
  const compileMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!compiled.ok) throw new Error(`generated policy did not compile: ${JSON.stringify(compiled.errors.slice(0, 3))}`);
  const policy = compiled.policy;
  const rules = policy.factors.length + policy.prerequisites.length + policy.routes.length;
  const changes = generateChanges(CHANGES + WARMUP);
  const times = new Float64Array(CHANGES);
  const best = new Float64Array(CHANGES);
  const outcomes: Record<string, number> = {};
  for (let i = 0; i < changes.length; i++) {
    const { change, history, now } = changes[i]!;
    const start = process.hrtime.bigint();
    const r = decide(null, { type: 'submit', change, actor: change.requester, sourceTool: 'bench' }, { policy, directory, history, now });
    const ns = Number(process.hrtime.bigint() - start);
    let fastest = ns;
    for (let k = 0; k < 2; k++) {
      const s2 = process.hrtime.bigint();
      decide(null, { type: 'submit', change, actor: change.requester, sourceTool: 'bench' }, { policy, directory, history, now });
      fastest = Math.min(fastest, Number(process.hrtime.bigint() - s2));
    }
    if (i >= WARMUP) {
      times[i - WARMUP] = ns / 1e6;
      best[i - WARMUP] = fastest / 1e6;
      const state = r.ok ? r.change.state : `refused:${r.code}`;
      outcomes[state] = (outcomes[state] ?? 0) + 1;
    }
  }
  times.sort();
  best.sort();
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return [{
    name: `policy: decide(submit) with a ${rules}-rule policy compiled once (target p99 < 1 ms)`,
    figures: {
      rules,
      changes: CHANGES,
      'compile ms': Number(compileMs.toFixed(1)),
      'p50 ms': Number(percentile(times, 50).toFixed(4)),
      'p99 ms': Number(percentile(times, 99).toFixed(4)),
      'max ms': Number(times[times.length - 1]!.toFixed(4)),
      'mean ms': Number(mean.toFixed(4)),
      'best-of-3 p50 ms': Number(percentile(best, 50).toFixed(4)),
      'best-of-3 p99 ms': Number(percentile(best, 99).toFixed(4)),
      'load average (1 min)': Number(loadavg()[0]!.toFixed(2)),
      'changes/s': Math.round(1000 / mean),
      outcomes: Object.entries(outcomes).map(([k, v]) => `${k} ${v}`).join(', '),
    },
  }];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchPolicy()) process.stdout.write(`${r.name}\n${JSON.stringify(r.figures, null, 2)}\n`);
}
