// CEL for policy conditions: one typed environment per kind of rule, built once. Variables carry the
// canonical schema, so `change.enviroment` fails type-checking at load instead of silently never
// matching at run time.
import { Environment } from '@marcbachmann/cel-js';
import type { CompiledExpr, Origin, CelContext } from './types.ts';

const CHANGE_SCHEMA = {
  id: 'string',
  type: 'string',
  state: 'string',
  title: 'string',
  description: 'string',
  environment: 'string',
  services: 'list<string>',
  ciClasses: 'list<string>',
  ciNames: 'list<string>',
  dataClass: 'string',
  rollback: { plan: 'string', complexity: 'string' },
  artifacts: 'map<string, dyn>',
  requester: 'string',
  team: 'string',
  region: 'string',
  incident: { id: 'string', source: 'string', status: 'string', priority: 'string', title: 'string', url: 'string' },
  justification: 'string',
  labels: 'map<string, string>',
  size: { linesChanged: 'int', filesChanged: 'int' },
} as const;

const HISTORY_SCHEMA = {
  incidentRate: 'double',
  similarCount: 'int',
  teamChangesLast7d: 'int',
  medianTeamChangesPerWeek: 'double',
} as const;

const WINDOW_SCHEMA = {
  active: 'list<string>', // ids of the policy windows the change falls in
  businessHours: 'bool',
  freeze: 'bool',
  holiday: 'bool',
} as const;

const RISK_SCHEMA = {
  score: 'int',
  tier: 'string',
  factors: 'list<string>',
  anomaly: 'bool',
} as const;

/** Which variables a rule may use: risk factors cannot read the risk they compute. */
export type Scope = 'factor' | 'rule';

let envs: Record<Scope, Environment> | null = null;
function environments(): Record<Scope, Environment> {
  if (envs) return envs;
  const base = new Environment({ homogeneousAggregateLiterals: false })
    .registerVariable({ name: 'change', schema: CHANGE_SCHEMA as never })
    .registerVariable({ name: 'history', schema: HISTORY_SCHEMA as never })
    .registerVariable({ name: 'window', schema: WINDOW_SCHEMA as never });
  const rule = base.clone().registerVariable({ name: 'risk', schema: RISK_SCHEMA as never });
  envs = { factor: base, rule };
  return envs;
}

/** Field names known to the schema, for "did you mean" hints. */
const KNOWN_FIELDS: Record<string, string[]> = {
  change: Object.keys(CHANGE_SCHEMA),
  history: Object.keys(HISTORY_SCHEMA),
  window: Object.keys(WINDOW_SCHEMA),
  risk: Object.keys(RISK_SCHEMA),
};

export interface CelProblem {
  message: string;
}

interface CelErrorLike {
  name?: string;
  code?: string;
  summary?: string;
  message?: string;
  node?: { op?: string; args?: unknown };
}

/** Renders a member chain (`change.rollback.plam`) from an AST node. */
function chainText(node: unknown): string | null {
  const n = node as { op?: string; args?: unknown } | undefined;
  if (!n) return null;
  if (n.op === 'id' && typeof n.args === 'string') return n.args;
  if ((n.op === '.' || n.op === '.?') && Array.isArray(n.args)) {
    const left = chainText(n.args[0]);
    return left ? `${left}.${String(n.args[1])}` : null;
  }
  return null;
}

function closest(name: string, options: string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const o of options) {
    const d = editDistance(name.toLowerCase(), o.toLowerCase());
    if (d < bestD) { bestD = d; best = o; }
  }
  return best && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

function describe(err: CelErrorLike, scope: Scope): string {
  const summary = err.summary ?? (err.message ?? String(err)).split('\n')[0]!;
  if (err.name === 'ParseError') return `CEL syntax error: ${summary}`;
  if (err.code === 'no_such_key') {
    const chain = chainText(err.node) ?? summary.replace(/^No such key: /, '');
    const parts = chain.split('.');
    const root = parts[0]!;
    const known = parts.length === 2 ? KNOWN_FIELDS[root] : undefined;
    const hint = known ? closest(parts[1]!, known) : null;
    return `unknown field '${chain}'${hint ? ` (did you mean '${root}.${hint}'?)` : ''}`;
  }
  if (err.code === 'unknown_variable') {
    const name = summary.replace(/^Unknown variable: /, '');
    if (name === 'risk' && scope === 'factor') return `unknown variable 'risk': a risk factor cannot use the risk it contributes to`;
    return `unknown variable '${name}' (conditions may use ${scope === 'factor' ? 'change, history, window' : 'change, history, window, risk'})`;
  }
  return `CEL type error: ${summary}`;
}

/**
 * Parses and type-checks one expression. `expect` is the CEL type the result must have ('bool' for
 * conditions, 'string' for a team name).
 */
export function compileExpr(source: unknown, path: string, origin: Origin, scope: Scope, expect: 'bool' | 'string'): CompiledExpr | CelProblem {
  if (typeof source === 'boolean') source = String(source);
  if (typeof source !== 'string' || source.trim() === '') return { message: `expected a CEL expression (text), got ${JSON.stringify(source) ?? 'nothing'}` };
  const env = environments()[scope];
  let fn: ((ctx: CelContext) => unknown) & { check(): { valid: boolean; type?: string; error?: unknown } };
  try {
    fn = env.parse(source) as never;
  } catch (err) {
    return { message: describe(err as CelErrorLike, scope) };
  }
  const checked = fn.check();
  if (!checked.valid) return { message: describe(checked.error as CelErrorLike, scope) };
  if (checked.type !== expect && checked.type !== 'dyn') return { message: `expected a ${expect} expression, this one gives ${checked.type}` };
  const text = source;
  return {
    source: text,
    path,
    origin,
    test(ctx) {
      // A condition reading an absent field (no dataClass, no rollback complexity: most changes) throws
      // in cel-js and simply does not match; the stack of that error is never read, and capturing it
      // was the most expensive part of evaluating the policy.
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      try {
        return fn(ctx) === true;
      } catch {
        return false;
      } finally {
        Error.stackTraceLimit = limit;
      }
    },
    value(ctx) {
      return fn(ctx);
    },
  };
}

export function isProblem(x: CompiledExpr | CelProblem): x is CelProblem {
  return !('test' in x);
}
