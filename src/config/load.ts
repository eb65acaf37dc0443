// The one configuration loader: reads config/hub.yaml (or $HUB_CONFIG), applies the environment
// overrides, resolves ${env:NAME} / ${file:PATH} into Secrets, validates, and returns a frozen HubConfig.
// This is the only module that reads process.env; everything else receives the HubConfig.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate as validCron } from 'node-cron';
import { connectorById, connectors as registeredConnectors } from '../../connectors/index.ts';
import { authTypeFields } from '../http-client/auth.ts';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { ConnectionSettings, Json, Secret } from '../sdk/index.ts';
import type { HubConfig } from './types.ts';
import { hubConfigSchema, LOG_LEVELS } from './schema.ts';
import { createSecret } from './secret.ts';

export const DEFAULT_CONFIG_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'config', 'hub.yaml');
const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** Minutes of processing on a small machine: a burst is taken in and worked off, while a flood that
 * would keep approvals late for longer is refused (429) so senders hold their deliveries instead. */
const DEFAULT_MAX_BACKLOG = 100_000;

export interface ConfigProblem {
  /** The config file, or "environment" for an env override. */
  file: string;
  /** Where inside it, e.g. "connections[1].webhook.secret" (or the variable name for the environment). */
  path: string;
  /** 1-based YAML line, when known. */
  line: number | null;
  reason: string;
}

/** A configuration the hub refuses. The message lists every problem as `file:line: path: reason`. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: ConfigProblem[];
  readonly file: string;
  readonly path: string;
  readonly line: number | null;
  readonly reason: string;
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    const first = problems[0]!;
    this.problems = problems;
    this.file = first.file;
    this.path = first.path;
    this.line = first.line;
    this.reason = first.reason;
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line === null ? p.file : `${p.file}:${p.line}`;
  return p.path ? `${where}: ${p.path}: ${p.reason}` : `${where}: ${p.reason}`;
}

// 'ajv' at the top of node_modules is eslint's ajv 6 (a dev dependency, absent from production installs);
// Fastify brings ajv 8 with its schema compiler. Load that one: same engine Fastify validates routes with.
interface AjvError { instancePath: string; keyword: string; params: Record<string, unknown>; message?: string }
interface AjvValidate { (data: unknown): boolean; errors?: AjvError[] | null }
const fastifyRequire = createRequire(createRequire(import.meta.url).resolve('@fastify/ajv-compiler'));
const AjvClass = (fastifyRequire('ajv') as { default: new (opts: object) => { compile(schema: object): AjvValidate } }).default;
const validateShape = new AjvClass({ allErrors: true, strict: false }).compile(hubConfigSchema);

type Segment = string | number;

export function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

const REF = /^\$\{(env|file):([^}]*)\}$/;
const SECRET_KEY_ENDINGS = ['password', 'secret', 'secrets', 'token', 'key', 'credential', 'credentials', 'value'];
/** Fields whose value is a secret: a literal there is refused (it would end up in git). */
export function isSecretBearing(key: string): boolean {
  const k = key.toLowerCase();
  return k === 'pat' || SECRET_KEY_ENDINGS.some((e) => k.endsWith(e));
}

export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv } = {}): HubConfig {
  const env = opts.env ?? process.env;
  const file = resolve(opts.file ?? env.HUB_CONFIG ?? DEFAULT_CONFIG_FILE);
  const shown = displayPath(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([{ file: shown, path: '', line: null, reason: code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? 'error'})` }]);
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // Only the first: after one syntax error the parser's recovery reports every later token of the
    // block as unexpected too, which buries the line to fix.
    throw new ConfigError(doc.errors.slice(0, 1).map((e) => {
      const line = lineCounter.linePos(e.pos[0]).line;
      const src = text.split('\n')[line - 1] ?? '';
      const hint = src.includes('${') && src.includes('{ ')
        ? ' (inside { } write secret references in quotes: "${env:NAME}")'
        : '';
      return { file: shown, path: '', line, reason: `not valid YAML: ${e.message.split('\n')[0]}${hint}` };
    }));
  }
  const raw = (doc.toJS() ?? {}) as unknown;
  const lineOf = (segments: readonly Segment[]) => findLine(doc, lineCounter, segments);
  const problem = (segments: Segment[], reason: string): ConfigProblem => ({ file: shown, path: formatPath(segments), line: lineOf(segments), reason });

  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError([problem([], 'the file must be a YAML mapping (server:, store:, connections: …)')]);
  }
  if (!validateShape(raw)) throw new ConfigError(shapeProblems(validateShape.errors ?? [], problem));

  const c = raw as RawConfig;
  const dir = dirname(file);
  const problems: ConfigProblem[] = [];

  // Secret references are only meaningful where a secret is expected.
  scanForStrayRefs(c, [], (segments) => problems.push(problem(segments, 'secret references (${env:…} / ${file:…}) are only allowed in a connection\'s auth and webhook settings')));

  const seen = new Map<string, number>();
  const connections: ConnectionSettings[] = (c.connections ?? []).map((rc, i) => {
    const first = seen.get(rc.id);
    if (first !== undefined) problems.push(problem(['connections', i, 'id'], `duplicate connection id "${rc.id}" (also connections[${first}])`));
    else seen.set(rc.id, i);
    // Refused here, with the line, so a typo stops the hub before it opens (or creates) its store.
    const connector = connectorById(rc.connector);
    if (!connector) {
      problems.push(problem(['connections', i, 'connector'], `"${rc.connector}" is not a registered connector (known: ${registeredConnectors.map((x) => x.id).join(', ')})`));
    }
    // A misspelt option (systemOfRecrd) would otherwise be ignored without a word.
    const known = connector?.options;
    if (known && rc.options) {
      const all = [...HUB_OPTIONS, ...known];
      for (const key of Object.keys(rc.options)) {
        if (!all.includes(key)) problems.push(problem(['connections', i, 'options', key], `is not an option of the ${rc.connector} connector (known: ${all.join(', ')})`));
      }
    }
    const others = (c.connections ?? []).map((x) => ({ id: x.id, connector: x.connector }));
    for (const [key, reason] of connector?.optionsProblems?.({ options: rc.options ?? {}, reconcile: !!rc.reconcile }, others) ?? []) {
      problems.push(problem(['connections', i, 'options', key], reason));
    }
    // A cron typo would otherwise surface only when the reconciler schedules it, or never.
    if (rc.reconcile && !validCron(rc.reconcile.cron)) {
      problems.push(problem(['connections', i, 'reconcile', 'cron'], `"${rc.reconcile.cron}" is not a cron expression (e.g. "*/5 * * * *": minute hour day month weekday)`));
    }
    // Only a webhook block that is there is checked: a connection without one receives no webhooks.
    const webhookProblem = rc.webhook ? connector?.webhook?.settingsProblem?.(Object.keys(rc.webhook)) : null;
    if (webhookProblem) problems.push(problem(['connections', i, 'webhook'], webhookProblem));
    // The HTTP client reads auth only at the first outbound call: a typo there must stop check and start.
    if (rc.auth) {
      for (const [at, reason] of authProblems(rc.auth, rc.connector)) problems.push(problem(['connections', i, 'auth', ...at], reason));
    }
    if (rc.mapping !== undefined && rc.mappings !== undefined) {
      problems.push(problem(['connections', i, 'mapping'], 'give either mapping (one file) or mappings (by record kind), not both'));
    }
    const resolveSecrets = (section: 'auth' | 'webhook') => {
      const values = rc[section];
      if (values === undefined || values === null) return null;
      const out: Record<string, string | number | boolean | Secret | Secret[]> = {};
      for (const [key, v] of Object.entries(values)) {
        const at: Segment[] = ['connections', i, section, key];
        if (Array.isArray(v)) {
          out[key] = v.map((item, j) => resolveRef(item, [...at, j], true, dir, env, problems, problem) as Secret);
        } else {
          out[key] = resolveRef(v, at, isSecretBearing(key), dir, env, problems, problem);
        }
      }
      return out;
    };
    const mappings: Record<string, string> = { ...(rc.mappings ?? {}) };
    if (rc.mapping !== undefined) mappings[basename(rc.mapping, extname(rc.mapping))] = rc.mapping;
    return {
      id: rc.id,
      connector: rc.connector,
      baseUrl: rc.baseUrl ?? null,
      auth: resolveSecrets('auth') as ConnectionSettings['auth'],
      webhook: resolveSecrets('webhook'),
      mappings,
      reconcile: rc.reconcile ?? null,
      rateLimit: rc.rateLimit ?? null,
      options: (rc.options ?? {}) as Record<string, Json>,
    };
  });

  // Environment overrides (12-factor deployments, the Docker image, tests on a free port).
  const fromEnv = (name: string, reason: string): ConfigProblem => ({ file: 'environment', path: name, line: null, reason });
  let port = c.server?.port ?? 3000;
  if (env.PORT !== undefined && env.PORT !== '') {
    const p = Number(env.PORT);
    if (!Number.isInteger(p) || p < 0 || p > 65535) problems.push(fromEnv('PORT', `must be a port number 0..65535, got "${env.PORT}"`));
    else port = p;
  }
  let store = c.store ?? 'sqlite:./data/hub.db';
  if (env.MONGODB_URI) {
    if (!/^mongodb(\+srv)?:\/\/.+/.test(env.MONGODB_URI)) problems.push(fromEnv('MONGODB_URI', 'must start with mongodb:// or mongodb+srv://'));
    else store = env.MONGODB_URI;
  }
  let queue = c.queue ?? 'embedded';
  if (env.REDIS_URL) {
    if (!/^rediss?:\/\/.+/.test(env.REDIS_URL)) problems.push(fromEnv('REDIS_URL', 'must start with redis:// or rediss://'));
    else queue = env.REDIS_URL;
  }
  let level: string = c.log?.level ?? 'info';
  if (env.LOG_LEVEL) {
    if (!(LOG_LEVELS as readonly string[]).includes(env.LOG_LEVEL)) problems.push(fromEnv('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`));
    else level = env.LOG_LEVEL;
  }
  const host = env.HOST || c.server?.host || '127.0.0.1';
  if (problems.length > 0) throw new ConfigError(problems);

  // A relative sqlite path is relative to the config file, so the hub finds its data wherever it is started.
  if (store.startsWith('sqlite:')) {
    const p = store.slice('sqlite:'.length);
    if (p !== ':memory:' && !isAbsolute(p)) store = `sqlite:${resolve(dir, p)}`;
  }

  const policy = resolve(dir, c.policy ?? './policy.yaml');
  return deepFreeze({
    file,
    server: { host, port, bodyLimitBytes: parseSize(c.server?.bodyLimit ?? DEFAULT_BODY_LIMIT) },
    store,
    queue,
    policy,
    policyOverlays: (c.policyOverlays ?? []).map((o) => resolve(dir, o)),
    mappingsDir: resolve(dir, c.mappingsDir ?? './mappings'),
    directory: c.directory ? resolve(dir, c.directory) : resolve(dirname(policy), 'directory.yaml'),
    conflicts: { rule: c.conflicts?.rule ?? 'reject-wins' },
    ingest: { maxBacklog: c.ingest?.maxBacklog ?? DEFAULT_MAX_BACKLOG },
    publicUrl: (c.publicUrl ?? `http://localhost:${port}`).replace(/\/+$/, ''),
    connections,
    log: { level },
  });
}

interface RawConnection {
  id: string;
  connector: string;
  baseUrl?: string | null;
  auth?: Record<string, string | number | boolean> | null;
  webhook?: Record<string, string | number | boolean | string[]> | null;
  mapping?: string;
  mappings?: Record<string, string>;
  reconcile?: { cron: string } | null;
  rateLimit?: { perSecond: number } | null;
  options?: Record<string, unknown>;
}
interface RawConfig {
  server?: { host?: string; port?: number; bodyLimit?: number | string };
  store?: string;
  queue?: string;
  policy?: string;
  policyOverlays?: string[];
  mappingsDir?: string;
  directory?: string;
  conflicts?: { rule?: 'reject-wins' | 'manual' };
  ingest?: { maxBacklog?: number };
  publicUrl?: string;
  log?: { level?: string };
  connections?: RawConnection[] | null;
}

function resolveRef(
  v: string | number | boolean,
  at: Segment[],
  secretBearing: boolean,
  dir: string,
  env: NodeJS.ProcessEnv,
  problems: ConfigProblem[],
  problem: (s: Segment[], reason: string) => ConfigProblem,
): string | number | boolean | Secret {
  const m = typeof v === 'string' ? REF.exec(v) : null;
  if (!m) {
    if (typeof v === 'string' && v.includes('${')) {
      problems.push(problem(at, 'a secret reference must be the whole value: "${env:NAME}" or "${file:PATH}"'));
    } else if (secretBearing) {
      // Never echo the value: it is a secret someone pasted into the file.
      problems.push(problem(at, 'a secret must come from "${env:NAME}" or "${file:PATH}", not a literal value in the file'));
    }
    return v;
  }
  const [, kind, name] = m as unknown as [string, 'env' | 'file', string];
  if (kind === 'env') {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      problems.push(problem(at, `"${name}" is not an environment variable name`));
      return '';
    }
    const value = env[name];
    if (value === undefined || value === '') {
      problems.push(problem(at, `environment variable ${name} is not set`));
      return '';
    }
    return createSecret(value, `env:${name}`);
  }
  const path = resolve(dir, name);
  try {
    // Secret files (Docker/Kubernetes secrets) usually end with a newline that is not part of the secret.
    return createSecret(readFileSync(path, 'utf8').replace(/\r?\n$/, ''), `file:${name}`);
  } catch (err) {
    problems.push(problem(at, `cannot read secret file ${name} (${(err as NodeJS.ErrnoException).code ?? 'error'})`));
    return '';
  }
}

/** Options the hub itself reads on any connection (src/pipeline: connections, events, effects). */
const HUB_OPTIONS: readonly string[] = ['systemOfRecord', 'changeDefaults', 'rollbackAction'];

function authProblems(auth: Record<string, unknown>, connector: string): Array<[Segment[], string]> {
  const type = String(auth.type);
  const needs = Object.hasOwn(authTypeFields, type) ? authTypeFields[type] : undefined;
  if (!needs) return [[['type'], `"${type}" is not an auth type (use ${Object.keys(authTypeFields).join(', ')})`]];
  if (type === 'github-app' && connector !== 'github') return [[['type'], `"github-app" is only for a github connection; use ${Object.keys(authTypeFields).filter((t) => t !== 'github-app').join(', ')}`]];
  return needs.filter((f) => auth[f] === undefined || auth[f] === null || auth[f] === '')
    .map((f): [Segment[], string] => [[f], `is required for auth type "${type}"`]);
}

function scanForStrayRefs(v: unknown, at: Segment[], report: (at: Segment[]) => void): void {
  if (typeof v === 'string') {
    if (v.includes('${env:') || v.includes('${file:')) report(at);
    return;
  }
  if (Array.isArray(v)) {
    v.forEach((item, i) => scanForStrayRefs(item, [...at, i], report));
    return;
  }
  if (typeof v === 'object' && v !== null) {
    for (const [k, child] of Object.entries(v)) {
      if (at.length === 2 && at[0] === 'connections' && (k === 'auth' || k === 'webhook')) continue;
      scanForStrayRefs(child, [...at, k], report);
    }
  }
}

function shapeProblems(errors: AjvError[], problem: (s: Segment[], reason: string) => ConfigProblem): ConfigProblem[] {
  const byPath = new Map<string, { segments: Segment[]; errors: AjvError[] }>();
  for (const e of errors) {
    const segments: Segment[] = e.instancePath.split('/').slice(1).map((s) => {
      const u = s.replace(/~1/g, '/').replace(/~0/g, '~');
      return /^\d+$/.test(u) ? Number(u) : u;
    });
    if (e.keyword === 'required') segments.push(String(e.params.missingProperty));
    if (e.keyword === 'additionalProperties') segments.push(String(e.params.additionalProperty));
    const key = formatPath(segments);
    const group = byPath.get(key) ?? { segments, errors: [] };
    group.errors.push(e);
    byPath.set(key, group);
  }
  const out: ConfigProblem[] = [];
  for (const { segments, errors: group } of byPath.values()) {
    const e = group.find((x) => x.keyword === 'anyOf') ?? group[0]!;
    out.push(problem(segments, reasonFor(segments, e)));
  }
  return out;
}

function reasonFor(segments: Segment[], e: AjvError): string {
  const last = segments[segments.length - 1];
  switch (e.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known setting';
    case 'type':
      return `must be ${String(e.params.type).split(',').join(' or ')}`;
    case 'enum':
      return `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
    case 'anyOf':
      return last === 'bodyLimit'
        ? 'must be a number of bytes or a size such as "512kb" or "1mb"'
        : 'must be a string, number, boolean, or a list of strings';
    case 'pattern':
      if (last === 'id' || last === 'connector') return 'must be lower-case letters, digits and dashes (connection ids appear in /webhooks/<id>)';
      if (last === 'store') return 'must be "sqlite:<path>" or "mongodb://…"';
      if (last === 'queue') return 'must be "embedded" or "redis://…"';
      if (last === 'baseUrl' || last === 'publicUrl') return 'must start with http:// or https://';
      return `must match ${String(e.params.pattern)}`;
    default:
      return e.message ?? `fails ${e.keyword}`;
  }
}

function findLine(doc: Document, lc: LineCounter, segments: readonly Segment[]): number | null {
  let node: unknown = doc.contents;
  let best: Node | null = isNode(node) ? node : null;
  for (const s of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === s);
      if (!pair) break;
      node = pair.value;
      // A missing or null value has no node of its own: point at the key.
      best = isNode(pair.value) && pair.value.range ? pair.value : isNode(pair.key) ? pair.key : best;
    } else if (isSeq(node) && typeof s === 'number') {
      node = node.items[s];
      if (!isNode(node)) break;
      best = node;
    } else break;
  }
  const offset = best?.range?.[0];
  return offset === undefined ? null : lc.linePos(offset).line;
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && 'range' in v;
}

function parseSize(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^([0-9]+) ?([kKmM])?/.exec(v)!;
  const n = Number(m[1]);
  const unit = m[2]?.toLowerCase();
  return unit === 'k' ? n * 1024 : unit === 'm' ? n * 1024 * 1024 : n;
}

function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

