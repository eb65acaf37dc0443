// Real hub processes for end-to-end tests and benchmarks: `node src/server.ts` with its own
// HUB_CONFIG, data folder and port on 127.0.0.1; wait for /healthz; stop, kill -9, restart.
// Also the two things around a hub these runs need: a Standard Webhooks signer (the generic
// connector's inbound format) and a fake action target counting calls by Idempotency-Key.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const nodeBin = join(repoRoot, 'node_modules', '.bin', 'node');

/** A port nobody listens on right now (the hub keeps it across restarts, so senders keep one URL). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface HubOptions {
  /** hub.yaml text; `store`, `queue` and `server.port` are set through the environment. */
  config: string;
  /** Extra environment (secrets named by ${env:…} in the config, MONGODB_URI, REDIS_URL, LOG_LEVEL). */
  env?: Record<string, string>;
  /** Share a data folder (and so the embedded store and queue) with another run; default a new temp folder. */
  dataDir?: string;
  port?: number;
  /** Extra files written next to hub.yaml before start (policy.yaml, mappings/…). */
  files?: Record<string, string>;
}

export interface HubProcess {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly configFile: string;
  /** PID of the running child, null when stopped. */
  pid(): number | null;
  /** Everything the hub printed (stdout and stderr) since the first start. */
  output(): string;
  start(): Promise<void>;
  /** SIGTERM (graceful shutdown) and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL: no shutdown hooks, no flush — a crash. */
  kill9(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the hub if running and removes the data folder it created. */
  dispose(): Promise<void>;
}

async function waitForHealth(url: string, child: ChildProcess, out: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`hub exited (${exited}) before /healthz answered:\n${out().slice(-4000)}`);
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`hub did not answer /healthz within ${timeoutMs} ms:\n${out().slice(-4000)}`);
}

export async function startHub(opts: HubOptions): Promise<HubProcess> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'approval-hub-e2e-'));
  const port = opts.port ?? (await freePort());
  const configFile = join(dataDir, `hub-${port}.yaml`);
  writeFileSync(configFile, opts.config);
  for (const [name, text] of Object.entries(opts.files ?? {})) {
    const file = join(dataDir, name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let out = '';

  // The test runner exports MONGODB_URI / REDIS_URL for the contract suites; a hub gets only what its
  // test asks for, so an "embedded" run is really embedded.
  const baseEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || ['MONGODB_URI', 'REDIS_URL', 'HUB_CONFIG', 'PORT', 'HOST', 'NODE_TEST_CONTEXT', 'NODE_OPTIONS'].includes(k)) continue;
    baseEnv[k] = v;
  }

  const hub: HubProcess = {
    url,
    port,
    dataDir,
    configFile,
    pid: () => child?.pid ?? null,
    output: () => out,
    async start() {
      if (child) throw new Error('hub already running');
      const c = spawn(nodeBin, ['src/server.ts'], {
        cwd: repoRoot,
        env: { ...baseEnv, LOG_LEVEL: 'warn', ...opts.env, HUB_CONFIG: configFile, PORT: String(port), HOST: '127.0.0.1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      // A test process that dies (timeout, Ctrl-C) must not leave hubs running.
      const reap = () => c.kill('SIGKILL');
      process.once('exit', reap);
      c.once('exit', () => process.removeListener('exit', reap));
      const keep = (b: Buffer) => {
        out += b.toString();
        // Bounded: a chatty hub must not eat the test's memory.
        if (out.length > 2_000_000) out = out.slice(-1_000_000);
      };
      c.stdout!.on('data', keep);
      c.stderr!.on('data', keep);
      c.once('exit', () => {
        if (child === c) child = null;
      });
      try {
        await waitForHealth(url, c, () => out, 60_000);
      } catch (err) {
        c.kill('SIGKILL');
        child = null;
        throw err;
      }
    },
    async stop() {
      const c = child;
      if (!c) return null;
      const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill9() {
      const c = child;
      if (!c) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await hub.stop();
      await hub.start();
    },
    async dispose() {
      await hub.kill9();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  await hub.start();
  return hub;
}

// ---------------------------------------------------------------- Standard Webhooks (generic connector)
/** A Standard Webhooks signing secret: "whsec_" + base64 of 24 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** Headers of a Standard Webhooks delivery: webhook-id, webhook-timestamp (seconds) and
 * webhook-signature "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" (standardwebhooks.com). */
export function signStandardWebhook(secret: string, id: string, body: string, timestampSeconds = Math.floor(Date.now() / 1000)): Record<string, string> {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${signature}`,
  };
}

// ---------------------------------------------------------------- fake action target
/** One request the target received, whatever it answered. */
export interface TargetCall {
  /** 1 for the first request the target received. */
  n: number;
  /** Idempotency-Key header ('' when absent). */
  key: string;
  body: unknown;
  /** Date.now() when the request reached the target (its headers were read). */
  at: number;
  status: number;
  /** Date.now() just before the answer was written. */
  answeredAt: number;
  /** The Retry-After header sent with the answer, if any. */
  retryAfter: string | null;
}

/** What the target answers a request; `null` from a mode means "the normal 200". */
export interface TargetAnswer {
  status: number;
  headers?: Record<string, string>;
}
export type TargetMode = (call: { n: number; key: string; at: number }) => TargetAnswer | null;

export interface CallbackTarget {
  readonly url: string;
  /** Calls performed (answered 2xx), by Idempotency-Key header ('' when absent). */
  readonly calls: Map<string, number>;
  /** Every performed request's body, in order. */
  readonly bodies: unknown[];
  /** Every request received, performed or refused, in order of arrival. */
  readonly log: TargetCall[];
  /** Decides each answer from now on; default: 200 to everything. */
  setMode(mode: TargetMode | null): void;
  total(): number;
  /** Keys performed more than once. */
  repeated(): string[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A target that is down (503) for its first `count` calls, then answers normally. */
export function unavailableForCalls(count: number): TargetMode {
  return ({ n }) => (n <= count ? { status: 503 } : null);
}

/** A rate-limited target: the calls numbered in `limited` get 429 with the Retry-After header that
 * `retryAfter(now)` gives (delay-seconds or an HTTP-date, RFC 9110 §10.2.3). */
export function rateLimitedCalls(limited: Iterable<number>, retryAfter: (now: number) => string): TargetMode {
  const set = new Set(limited);
  return ({ n }) => (set.has(n) ? { status: 429, headers: { 'retry-after': retryAfter(Date.now()) } } : null);
}

/** An HTTP endpoint an outbound action calls: answers 200 (or what its mode says), counts performed
 * calls by Idempotency-Key and logs every request with its arrival and answer times. */
export async function startCallbackTarget(mode: TargetMode | null = null): Promise<CallbackTarget> {
  const calls = new Map<string, number>();
  const bodies: unknown[] = [];
  const log: TargetCall[] = [];
  let current = mode;
  const server: Server = createServer((req, res) => {
    const at = Date.now();
    const n = log.length + 1;
    const key = String(req.headers['idempotency-key'] ?? '');
    // Numbered on arrival, so "the first N calls" means the first N to reach the target.
    const call: TargetCall = { n, key, body: null, at, status: 0, answeredAt: 0, retryAfter: null };
    log.push(call);
    void readBody(req).then((text) => {
      try {
        call.body = JSON.parse(text);
      } catch {
        call.body = text;
      }
      const answer = current?.({ n, key, at }) ?? { status: 200 };
      call.status = answer.status;
      call.retryAfter = answer.headers?.['retry-after'] ?? null;
      if (answer.status >= 200 && answer.status < 300) {
        calls.set(key, (calls.get(key) ?? 0) + 1);
        bodies.push(call.body);
      }
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      call.answeredAt = Date.now();
      res.end(JSON.stringify(answer.status < 300 ? { ok: true, key } : { error: answer.status === 429 ? 'rate limited' : 'unavailable' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    bodies,
    log,
    setMode: (m) => {
      current = m;
    },
    total: () => [...calls.values()].reduce((a, b) => a + b, 0),
    repeated: () => [...calls.entries()].filter(([, n]) => n > 1).map(([k]) => k),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------- hub.yaml and senders for e2e runs
export interface E2eConnection {
  id: string;
  /** Environment variable holding the Standard Webhooks secret. */
  secretEnv: string;
  /** Where the generic connector's actions POST (baseUrl; callbackPath '/callback'). */
  callbackUrl?: string;
  /** reconcile.cron, six fields (seconds first) allowed. */
  reconcileCron?: string;
  connector?: string;
}

/** hub.yaml for an e2e hub: SQLite store and embedded queue next to it (MONGODB_URI / REDIS_URL in the
 * environment switch them), the repository's mappings, and the given policy file. */
export function e2eHubConfig(opts: { connections: E2eConnection[]; bodyLimit?: number; policy?: string }): string {
  const lines = [
    `server: { bodyLimit: ${opts.bodyLimit ?? 1024 * 1024} }`,
    'store: sqlite:./hub.db',
    'queue: embedded',
    `policy: ${opts.policy ?? './policy.yaml'}`,
    `mappingsDir: ${join(repoRoot, 'mappings')}`,
    'connections:',
  ];
  for (const c of opts.connections) {
    lines.push(`  - id: ${c.id}`, `    connector: ${c.connector ?? 'generic'}`, `    webhook: { secret: "\${env:${c.secretEnv}}" }`);
    if (c.callbackUrl) lines.push(`    baseUrl: ${c.callbackUrl}`, '    options: { callbackPath: /callback }');
    if (c.reconcileCron) lines.push(`    reconcile: { cron: "${c.reconcileCron}" }`);
  }
  return `${lines.join('\n')}\n`;
}

export interface Outgoing {
  path: string;
  body: string | Buffer;
  headers: Record<string, string>;
}
export interface Sent {
  /** HTTP status; 0 when the request failed at the socket (refused, reset, timed out). */
  status: number;
  contentType: string;
  text: string;
  json: { deliveryId?: string; duplicate?: boolean } | null;
  error: string | null;
  retryAfter?: string | null;
}

export async function send(baseUrl: string, req: Outgoing, timeoutMs = 10_000): Promise<Sent> {
  try {
    const res = await fetch(`${baseUrl}${req.path}`, { method: 'POST', body: req.body, headers: req.headers, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let json: Sent['json'] = null;
    try {
      json = JSON.parse(text) as Sent['json'];
    } catch {
      json = null;
    }
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, json, error: null, retryAfter: res.headers.get('retry-after') };
  } catch (err) {
    return { status: 0, contentType: '', text: '', json: null, error: String((err as Error).cause ?? err) };
  }
}

/** Sends every request with at most `concurrency` in flight; answers in the order of `reqs`. */
export async function sendAll(baseUrl: string, reqs: Outgoing[], concurrency: number, onEach?: (i: number, s: Sent) => void, opts: { resendRefused?: number } = {}): Promise<Sent[]> {
  const out: Sent[] = new Array<Sent>(reqs.length);
  let next = 0;
  const worker = async () => {
    while (next < reqs.length) {
      const i = next++;
      out[i] = await send(baseUrl, reqs[i]!);
      // A sender told to come back later (429/503 + Retry-After) does so, as GitHub's redelivery or Jira's retries would.
      for (let tries = 0; tries < (opts.resendRefused ?? 0) && (out[i]!.status === 429 || out[i]!.status === 503); tries++) {
        await new Promise((r) => setTimeout(r, 1000 * (Number(out[i]!.retryAfter ?? 1) || 1)));
        out[i] = await send(baseUrl, reqs[i]!);
      }
      onEach?.(i, out[i]!);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

// ---------------------------------------------------------------- a burst of generic change requests
/** Policy and directory for e2e hubs: standard changes need nobody, so each accepted change at once
 * leads to outbound callbacks (sync-state, answer-gate, comment) to its generic connection. */
export const e2ePolicyFiles: Record<string, string> = {
  'policy.yaml': [
    'version: 1',
    'risk:',
    '  factors: []',
    '  tiers: { low: 0, medium: 30, high: 60 }',
    'routes:',
    '  - { id: standard, when: "change.type == \'standard\'", steps: [] }',
    '',
  ].join('\n'),
  'directory.yaml': 'people: []\n',
};

export interface GenericDelivery extends Outgoing {
  /** webhook-id: the sender's delivery id. */
  id: string;
  /** The deployment id the change is linked to. */
  externalId: string;
}

/** A signed "change.requested" for a change from a deploy tool (signed when created); standard unless said. */
export function changeRequest(connectionId: string, secret: string, externalId: string, opts: { type?: string; idPrefix?: string } = {}): GenericDelivery {
  const id = `${opts.idPrefix ?? 'msg_'}${externalId}`;
  const body = JSON.stringify({
    type: 'change.requested',
    change: { title: `Deploy ${externalId}`, type: opts.type ?? 'standard', environment: 'staging', requester: 'deployer@example.com' },
    link: { kind: 'deployment', externalId },
  });
  return { id, externalId, path: `/webhooks/${connectionId}`, body, headers: signStandardWebhook(secret, id, body) };
}

/** Re-signs a delivery for a retry (Standard Webhooks senders sign each attempt with a fresh timestamp). */
export function resign(d: GenericDelivery, secret: string): GenericDelivery {
  return { ...d, headers: signStandardWebhook(secret, d.id, d.body as string) };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

// ---------------------------------------------------------------- Redis for hub processes
/** The hub's queue always uses the default key prefix ("approval-hub"), so e2e runs keep apart by Redis
 * database number instead; `clear()` removes what a run left there (only the hub's keys). */
export function withRedisDatabase(db: number): { url: string; clear(): Promise<void> } {
  const base = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  base.pathname = `/${db}`;
  const url = base.toString();
  return {
    url,
    async clear() {
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
      try {
        await client.connect();
        let cursor = '0';
        do {
          const [nextCursor, keys] = await client.scan(cursor, 'MATCH', 'approval-hub:*', 'COUNT', 1000);
          cursor = nextCursor;
          if (keys.length > 0) await client.del(...keys);
        } while (cursor !== '0');
      } finally {
        client.disconnect();
      }
    },
  };
}

/** A signed generic delivery of an event type the hub does not act on (progress reports a deploy tool
 * sends between its change requests): stored, then marked ignored. */
export function progressEvent(connectionId: string, secret: string, externalId: string): GenericDelivery {
  const id = `msg_${externalId}`;
  const body = JSON.stringify({ type: 'deployment.progress', deployment: externalId, percent: 50 });
  return { id, externalId, path: `/webhooks/${connectionId}`, body, headers: signStandardWebhook(secret, id, body) };
}
