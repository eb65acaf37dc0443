// An in-process hub for pipeline tests: the real config loader, SQLite store, embedded queue, pipeline
// and HTTP app, wired to fake ServiceNow, GitHub and Jira servers (test/fakes/). Tests act the way the
// tools and people do (signed webhooks, approvals in ServiceNow, API calls with tokens) and read what
// a user would see (the fakes' records, the API, the audit log).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { HubConfig } from '../../src/config/types.ts';
import { createToken } from '../../src/http/plugins/auth.ts';
import { createLogger } from '../../src/log.ts';
import { createPipeline, type Pipeline, type PipelineDeps } from '../../src/pipeline/index.ts';
import { openQueue } from '../../src/queue/index.ts';
import type { Queue } from '../../src/queue/port.ts';
import type { QueueTuning } from '../../src/queue/index.ts';
import { openStore } from '../../src/store/index.ts';
import type { Role, Store } from '../../src/store/port.ts';
import { startFakeGitHub, type FakeGitHub } from '../fakes/github.ts';
import { startFakeJira, type FakeJira } from '../fakes/jira.ts';
import { startFakeServiceNow, type FakeServiceNow } from '../fakes/servicenow.ts';
import { fillFakeGaps } from './fake-gaps.ts';

const repo = join(import.meta.dirname, '..', '..');
export const SN_SECRET = 'sn-webhook-secret';
export const GH_SECRET = 'gh-webhook-secret';
export const JIRA_SECRET = 'jira-webhook-secret';

export interface PipelineHub {
  app: FastifyInstance;
  store: Store;
  queue: Queue;
  pipeline: Pipeline;
  config: HubConfig;
  sn: FakeServiceNow;
  gh: FakeGitHub;
  jira: FakeJira;
  /** Base URL the fakes post webhooks to: `${webhookBase}/<connection id>`. */
  webhookUrl(connectionId: string): string;
  token(roles: Role[], actor?: string): Promise<string>;
  logs(): string;
  close(): Promise<void>;
}

export interface HubOptions {
  /** Extra top-level YAML (e.g. `conflicts: { rule: manual }` once the config accepts it). */
  extraYaml?: string;
  /** GitHub connection options (YAML flow mapping body). */
  githubOptions?: string;
  pipeline?: Partial<Pick<PipelineDeps, 'connectionOptions' | 'concurrency'>>;
  /** Wraps the store the pipeline uses (to simulate a crash at a precise point). */
  wrapStore?: (store: Store) => Store;
  /** Wraps the queue the pipeline uses (to simulate a crash between storing a change and queueing its actions). */
  wrapQueue?: (queue: Queue) => Queue;
  /** Queue timings; default short ones so retries take milliseconds (benchmarks pass the production defaults). */
  queueTuning?: Partial<QueueTuning>;
  configPatch?: (config: HubConfig) => HubConfig;
}

export async function startHub(opts: HubOptions = {}): Promise<PipelineHub> {
  const sn = await startFakeServiceNow();
  const gh = await startFakeGitHub();
  const jira = await startFakeJira();
  const gaps = fillFakeGaps(gh, sn);
  // The hub listens on a real port so the fakes can deliver webhooks the way the vendors do.
  const dir = mkdtempSync(join(tmpdir(), 'pipeline-hub-'));
  const file = join(dir, 'hub.yaml');
  writeFileSync(file, `
store: "sqlite::memory:"
queue: embedded
policy: ${join(repo, 'config', 'policy.yaml')}
mappingsDir: ${join(repo, 'mappings')}
publicUrl: http://127.0.0.1:3000
server: { host: 127.0.0.1, port: 0 }
log: { level: debug }
${opts.extraYaml ?? ''}
connections:
  - id: servicenow
    connector: servicenow
    baseUrl: ${sn.url}
    auth: { type: basic, username: hub.integration, password: "\${env:SN_PASSWORD}" }
    webhook: { secret: "\${env:SN_SECRET}" }
    options: { systemOfRecord: true, assignmentGroup: CAB Approval }
  - id: github
    connector: github
    baseUrl: ${gh.url}
    auth: { type: github-app, appId: "${gh.appId}", privateKey: "\${env:GH_KEY}", installationId: "${gh.installations[0]!.id}" }
    webhook: { secret: "\${env:GH_SECRET}" }
    options: { jira: jira, ${opts.githubOptions ?? 'changeDefaults: { team: payments, rollback: { plan: "Redeploy the previous release tag", complexity: low } }'} }
  - id: jira
    connector: jira
    baseUrl: ${jira.url}
    auth: { type: basic, username: hub@acme.example, password: "\${env:JIRA_TOKEN}" }
    webhook: { secret: "\${env:JIRA_SECRET}" }
    options: { project: CHG }
`);
  let config = loadConfig({ file, env: { SN_PASSWORD: 'hub-password', SN_SECRET, GH_KEY: gh.privateKey, GH_SECRET, JIRA_TOKEN: 'jira-api-token', JIRA_SECRET } });
  if (opts.configPatch) config = opts.configPatch(config);
  let captured = '';
  const log = createLogger({ level: 'debug', destination: new Writable({ write(chunk: Buffer, _e, cb) { captured += chunk.toString(); cb(); } }) });
  const rawStore = await openStore('sqlite::memory:');
  const store = opts.wrapStore ? opts.wrapStore(rawStore) : rawStore;
  // Short queue timings: a retry or lease expiry takes milliseconds, not seconds.
  const queue = await openQueue('embedded', { sqlitePath: ':memory:', log, tuning: opts.queueTuning ?? { pollMs: 20, backoffBaseMs: 50, backoffMaxMs: 400, leaseMs: 1_000 } });
  const pipeline = createPipeline({
    config, store, queue: opts.wrapQueue ? opts.wrapQueue(queue) : queue, log,
    connectionOptions: { retry: { retries: 0, minMs: 10, maxMs: 50 }, maxWaitMs: 0, breaker: { failureThreshold: 3, openMs: 300 }, ...opts.pipeline?.connectionOptions },
    ...(opts.pipeline?.concurrency ? { concurrency: opts.pipeline.concurrency } : {}),
  });
  const app = await buildApp({ config, store, queue, log, routes: pipeline.routes, health: () => pipeline.health() });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  await pipeline.start();
  return {
    app, store, queue, pipeline, config, sn, gh, jira,
    webhookUrl: (id) => `${address}/webhooks/${id}`,
    token: async (roles, actor) => (await createToken(store, { name: `t-${Math.random().toString(36).slice(2)}`, roles, actor: actor ?? 'ops@acme.example' })).secret,
    logs: () => captured,
    async close() {
      await app.close();
      await pipeline.stop();
      await queue.close();
      await rawStore.close();
      gaps.close();
      await Promise.all([sn.close(), gh.close(), jira.close()]);
    },
  };
}

/** Polls until `check` returns a value (not undefined/false/null), or fails naming what it waited for. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== null && v !== false) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** What the hub did, for a failing test's message: deliveries with their status and reason, audit actions. */
export async function explain(hub: PipelineHub, changeId?: string): Promise<string> {
  const deliveries = (await hub.store.deliveries.list({}, { limit: 50 })).items.map((d) => `${d.connectionId} ${d.event} ${d.status}${d.reason ? `: ${d.reason}` : ''}`);
  const audit = changeId ? (await hub.store.audit.listForChange(changeId)).map((t) => `${t.action} by ${t.actor}@${t.sourceTool}${t.rationale ? ` (${t.rationale})` : ''}`) : [];
  const dead = (await hub.queue.deadLetters()).map((d) => `${d.kind}: ${d.error}`);
  return [`deliveries:\n  ${deliveries.join('\n  ')}`, `audit:\n  ${audit.join('\n  ')}`, `dead letters:\n  ${dead.join('\n  ')}`].join('\n');
}

/** Sends a webhook the way retrying senders (Jira, ServiceNow's REST message) do: a 429/503 with
 * Retry-After is sent again after the wait. Returns the final answer. */
export async function deliver(send: () => Promise<{ status: number; body: string }>): Promise<{ status: number; body: string }> {
  for (let attempt = 1; ; attempt++) {
    const r = await send();
    if ((r.status !== 429 && r.status !== 503) || attempt >= 5) return r;
    await new Promise((done) => setTimeout(done, 1_000));
  }
}

/** Signs and posts a GitHub webhook the way GitHub does (X-Hub-Signature-256 over the raw body). */
export async function sendGitHub(hub: PipelineHub, event: string, body: unknown): Promise<{ status: number; body: string }> {
  const raw = JSON.stringify(body);
  const { createHmac, randomUUID } = await import('node:crypto');
  return deliver(async () => {
    const res = await fetch(hub.webhookUrl('github'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': `sha256=${createHmac('sha256', GH_SECRET).update(raw).digest('hex')}`,
        'user-agent': 'GitHub-Hookshot/4a1b2c3',
      },
      body: raw,
    });
    return { status: res.status, body: await res.text() };
  });
}

/** Calls the hub's API with a bearer token; returns status and parsed JSON. */
export async function api(hub: PipelineHub, token: string, method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await hub.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
  return { status: res.statusCode, json: res.body ? JSON.parse(res.body) : null };
}
