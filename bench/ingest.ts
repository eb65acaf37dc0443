// Ingest benchmark: signed generic (Standard Webhooks) deliveries against a real hub process, next to
// a bare Fastify JSON echo measured in the same run on the same machine (PRODUCT.md §10: ingest keeps
// up with at least half of bare Fastify, p99 under 25 ms at half load; past capacity it refuses at once
// with 429/503 instead of letting senders time out).
//
// Runs: echo at full load; hub at full load (sustainable rate), both closed-loop (64 connections, each
// sending its next request when the last is answered); hub at half that rate and hub offered twice that
// rate, both open-loop at an even pace (bench/open-loop.ts: the goals are stated at a rate). For the
// embedded default and for MongoDB (jongodb) + Redis. After each run the bench watches the hub work off
// its backlog for a while and reports how fast it processed: acknowledging and processing are separate
// rates, and the first outruns the second by design (the durable queue absorbs bursts; past
// `ingest.maxBacklog` the hub refuses).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { openStore } from '../src/store/index.ts';
import { paced, type PacedRun } from './open-loop.ts';
import { startServer } from './support.ts';
import { newWebhookSecret, repoRoot, signStandardWebhook, startHub, withRedisDatabase, type HubProcess } from '../test/support/hub-process.ts';

// autocannon ships no type declarations: the part of its API used here.
interface CannonRequest {
  method?: string;
  path?: string;
  body?: string;
  headers?: Record<string, string>;
  setupRequest?: (req: CannonRequest) => CannonRequest;
  onResponse?: (status: number) => void;
}
interface CannonResult {
  duration: number;
  latency: { p50: number; p90: number; p99: number; max: number };
  '2xx': number;
  non2xx: number;
  timeouts: number;
  errors: number;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  timeout: number;
  requests: CannonRequest[];
}) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface BenchResult {
  name: string;
  figures: Record<string, number | string | boolean>;
}

const runSeconds = 5;
const connectionsFull = 64;
/** Open connections at most in the runs at a rate (see bench/open-loop.ts): eight times the closed-loop
 * run's: a request waits for a free one only while the hub's answers take longer than 512 / rate (75 ms
 * at 6 800/s), and that wait counts in its latency. Without a bound, a
 * pause of a few hundred ms makes the generator open a connection for every request due meanwhile, and
 * on two shared cores thousands of new connections at once take seconds to be served by any Node
 * server, a bare Fastify included (measured: first answers on new connections 0.5–5 s at 12 000/s),
 * which would measure the connection storm rather than the hub. */
const pacedMaxConnections = 512;

/** A closed-loop (autocannon) run or a run at a rate (bench/open-loop.ts, which also says how late the load generator ran). */
type Run = Omit<PacedRun, 'generatorDelayP99'> & { generatorDelayP99?: number; seconds?: number };

function summarise(r: CannonResult, refused: number): Run {
  const ok2xx = r['2xx'];
  return {
    rps: Math.round((ok2xx + r.non2xx) / r.duration),
    seconds: r.duration, // as autocannon measured it (a little over the duration asked for)
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
    ok2xx,
    refused,
    otherNon2xx: r.non2xx - refused,
    timeouts: r.timeouts,
    errors: r.errors,
  };
}

/** Signed deliveries made before a run, so the load generator (on the same two cores) spends its time
 * sending, not signing: every one has a fresh webhook-id (no two are duplicates). */
function signedPool(secret: string, size: number): { body: string; headers: Record<string, string> }[] {
  const pool = [];
  for (let i = 0; i < size; i++) {
    const id = `msg_${randomUUID()}`;
    // A real change request (the generic connector's shape): each one is parsed, decided and stored
    // as a change while the run goes on, so ingest is measured with the work it causes.
    const body = JSON.stringify({
      type: 'change.requested',
      change: { title: `Deploy ${id}`, type: 'standard', environment: 'staging', requester: 'deployer@example.com', service: 'checkout' },
      link: { kind: 'deployment', externalId: id },
    });
    pool.push({ body, headers: signStandardWebhook(secret, id, body) });
  }
  return pool;
}

/** The most requests per second a run is prepared for (beyond it, deliveries repeat and are answered as duplicates). */
const poolRatePerSecond = 16_000;

/** One autocannon run. */
export async function cannon(opts: { url: string; path: string; secret: string; connections: number; seconds?: number }): Promise<Run> {
  let refused = 0;
  const seconds = opts.seconds ?? runSeconds;
  const pool = signedPool(opts.secret, Math.round(poolRatePerSecond * seconds * 1.2) + opts.connections);
  let next = 0;
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: seconds,
    timeout: 5,
    requests: [
      {
        method: 'POST',
        path: opts.path,
        setupRequest(req: CannonRequest) {
          const d = pool[next++ % pool.length]!;
          return { ...req, body: d.body, headers: d.headers };
        },
        onResponse(status: number) {
          if (status === 429 || status === 503) refused++;
        },
      },
    ],
  });
  return summarise(result, refused);
}

const echoSource = `
import fastify from 'fastify';
const app = fastify({ logger: false });
app.post('/echo', async (req) => req.body);
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.stdout.write('listening\\n');
`;

/** bench/minimal-webhook-server.ts at full load: the ceiling for acknowledgements on this machine. */
async function minimalReceiverRps(secret: string): Promise<number> {
  const server = await startServer('minimal webhook server', [join(repoRoot, 'bench', 'minimal-webhook-server.ts')], { BENCH_WEBHOOK_SECRET: secret });
  try {
    await cannon({ url: server.url, path: '/webhooks/bench', secret, connections: 16, seconds: 1 }); // warm-up
    const run = await cannon({ url: server.url, path: '/webhooks/bench', secret, connections: connectionsFull });
    if (run.ok2xx === 0) throw new Error(`the minimal webhook server accepted nothing (${run.otherNon2xx} other answers)`);
    return run.rps;
  } finally {
    server.child.kill('SIGTERM');
  }
}

async function startJongodb(): Promise<{ url: string; child: ChildProcess | null }> {
  if (process.env.JONGODB_URI) return { url: process.env.JONGODB_URI, child: null };
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('@jongodb/memory-server-bin-linux-x64-gnu/package.json'));
  const child = spawn(join(pkg, 'bin', 'jongodb'), ['--host=127.0.0.1', '--port=0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`jongodb did not print its URL: ${out}`)), 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /JONGODB_URI=(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`jongodb exited (${code}): ${out}`)));
  });
  return { url, child };
}

/** A MongoDB URL naming its own database, so runs never see each other's deliveries. */
export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export function benchHubConfig(callbackUrl: string): string {
  return [
    'store: sqlite:./hub.db',
    'queue: embedded',
    `policy: ${join(repoRoot, 'config', 'policy.yaml')}`,
    `mappingsDir: ${join(repoRoot, 'mappings')}`,
    'connections:',
    '  - id: bench',
    '    connector: generic',
    '    webhook: { secret: "${env:BENCH_WEBHOOK_SECRET}" }',
    `    baseUrl: ${callbackUrl}`,
    '    options: { callbackPath: /echo }',
    '',
  ].join('\n');
}

interface QueueDepth {
  waiting: number;
  running: number;
}

/** Deliveries and outbound actions the hub still has to work off (what /readyz reports), or null if it
 * did not answer. */
async function backlogOf(url: string): Promise<{ deliveries: number; actions: number } | null> {
  try {
    const res = await fetch(`${url}/readyz`);
    const body = (await res.json()) as { checks?: { pipeline?: { queue?: Record<string, QueueDepth> } } };
    const q = body.checks?.pipeline?.queue;
    if (!q?.delivery || !q.outbound) return null;
    return { deliveries: q.delivery.waiting + q.delivery.running, actions: q.outbound.waiting + q.outbound.running };
  } catch {
    return null; // busy or restarting
  }
}

/** After a run: watches the hub work off its backlog for at most `limitSeconds` (or until it is empty)
 * and reports how fast it processed deliveries over the run and this wait. Processing is slower than
 * acknowledging by design (the durable queue absorbs bursts; past `ingest.maxBacklog` the hub refuses),
 * so the next run may start with a backlog the processing thread is still working on: the acknowledgement
 * latencies of the half and twice runs are measured with processing going on. */
async function settle(url: string, before: number, accepted: number, limitSeconds: number): Promise<{ seconds: number; left: number; drained: boolean }> {
  const t0 = Date.now();
  let left = before + accepted;
  while (Date.now() - t0 < limitSeconds * 1000) {
    const b = await backlogOf(url);
    if (b) {
      left = b.deliveries;
      if (b.deliveries === 0 && b.actions === 0) return { seconds: (Date.now() - t0) / 1000, left: 0, drained: true };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { seconds: (Date.now() - t0) / 1000, left, drained: false };
}

/** Deliveries the hub has handled (processed, ignored or failed), read from its store by the bench. */
type HandledCount = () => Promise<number>;

export async function handledCounter(storeUrl: string): Promise<{ handled: HandledCount; close(): Promise<void> }> {
  const store = await openStore(storeUrl);
  return {
    handled: async () => {
      const c = await store.deliveries.countByStatus();
      return c.processed + c.ignored + c.failed;
    },
    close: () => store.close(),
  };
}

/** Full-load rates measured in the same run: the bare Fastify echo and the minimal webhook receiver. */
export interface Baselines {
  echoRps: number;
  /** The echo's latencies at full load (ms). */
  echoP50: number;
  echoP99: number;
  minimalRps: number;
}

export async function benchHub(label: string, hub: HubProcess, secret: string, baselines: Baselines, handled: HandledCount, settleSeconds = 10): Promise<BenchResult[]> {
  const url = hub.url;
  const path = '/webhooks/bench';
  // Warm-up: JIT, SQLite page cache, connection pools; the first run starts from an empty backlog.
  await cannon({ url, path, secret, connections: 16, seconds: 1 });
  await settle(url, 0, 0, settleSeconds * 3);
  const phase = async (opts: { connections: number } | { rate: number }) => {
    const before = (await backlogOf(url))?.deliveries ?? 0;
    const handledBefore = await handled();
    let run: Run;
    if ('connections' in opts) run = await cannon({ url, path, secret, connections: opts.connections });
    else {
      const pool = signedPool(secret, Math.round(opts.rate * runSeconds) + 1);
      let next = 0;
      run = await paced({ url, path, rate: opts.rate, seconds: runSeconds, maxConnections: pacedMaxConnections, timeoutMs: 5_000, next: () => pool[next++]! });
    }
    const after = await settle(url, before, run.ok2xx, settleSeconds);
    return { run, before, after, handled: (await handled()) - handledBefore };
  };
  const full = await phase({ connections: connectionsFull });
  // Over the run's own duration, as the echo's rate is.
  const sustainable = Math.max(1, full.run.ok2xx / (full.run.seconds ?? runSeconds));
  const half = await phase({ rate: sustainable / 2 });
  const twice = await phase({ rate: sustainable * 2 });
  // Each delivery is a change request: processed means decided, stored and its callbacks performed.
  const processing = (p: Awaited<ReturnType<typeof phase>>): Record<string, number | boolean> => ({
    'backlog before': p.before,
    'backlog after s': Number(p.after.seconds.toFixed(1)),
    'backlog left': p.after.left,
    'changes processed/s (run + after)': Math.round(p.handled / (runSeconds + p.after.seconds)),
  });
  const fig = (r: Run) => ({
    'req/s': r.rps,
    'p50 ms': r.p50,
    'p99 ms': r.p99,
    'max ms': r.max,
    '202': r.ok2xx,
    '429/503': r.refused,
    'other non-2xx': r.otherNon2xx,
    timeouts: r.timeouts,
    ...(r.generatorDelayP99 === undefined ? {} : { 'load generator late p99 ms': r.generatorDelayP99 }),
  });
  return [
    {
      name: `ingest ${label}: full load`,
      figures: {
        ...fig(full.run),
        'accepted/s': Math.round(sustainable),
        'vs bare fastify': Number((sustainable / baselines.echoRps).toFixed(3)),
        'goal vs bare fastify': '>= 0.5',
        // Latency ratios: how many times the echo's, both closed loops of the same connections.
        'p50 vs bare fastify': Number((full.run.p50 / Math.max(baselines.echoP50, 1)).toFixed(1)),
        'p99 vs bare fastify': Number((full.run.p99 / Math.max(baselines.echoP99, 1)).toFixed(1)),
        'vs minimal receiver': Number((sustainable / baselines.minimalRps).toFixed(3)),
        ...processing(full),
      },
    },
    {
      name: `ingest ${label}: half load (${Math.round(sustainable / 2)}/s)`,
      figures: { ...fig(half.run), 'goal p99 ms': '< 25', 'p99 goal met': half.run.p99 < 25, ...processing(half) },
    },
    {
      name: `ingest ${label}: twice the sustainable rate (${Math.round(sustainable * 2)}/s offered)`,
      figures: {
        ...fig(twice.run),
        'goal p99 ms': '< 1000, excess refused with 429/503, no timeouts',
        'goal met': twice.run.p99 < 1000 && twice.run.timeouts === 0 && twice.run.otherNon2xx === 0,
        ...processing(twice),
      },
    },
  ];
}

export async function benchIngest(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const echo = await startServer('echo server', ['--input-type=module', '-e', echoSource]);
  try {
    // The echo gets the same signed deliveries the hub does: the same bytes for the load generator to
    // send and the kernel to carry, so the ratio compares what the servers do with them.
    const secret = newWebhookSecret();
    // Warmed up as the minimal receiver and the hub are: a fresh process answers slower until its JIT
    // has compiled the hot paths, which made the baseline look slower than the receivers measured after it.
    await cannon({ url: echo.url, path: '/echo', secret, connections: 16, seconds: 1 });
    const echoRun = await cannon({ url: echo.url, path: '/echo', secret, connections: connectionsFull });
    results.push({ name: 'bare fastify JSON echo: full load', figures: { 'req/s': echoRun.rps, 'p50 ms': echoRun.p50, 'p99 ms': echoRun.p99 } });
    const minimalRps = await minimalReceiverRps(secret);
    results.push({
      name: 'minimal webhook receiver (verify + 202, stores nothing): full load',
      figures: { 'req/s': minimalRps, 'vs bare fastify': Number((minimalRps / echoRun.rps).toFixed(3)) },
    });
    const baselines = { echoRps: echoRun.rps, echoP50: echoRun.p50, echoP99: echoRun.p99, minimalRps };
    // The echo stays up as the deploy tool's callback endpoint: the changes the deliveries raise call
    // back to it, as they would to a real deploy tool.
    // BENCH_INGEST=embedded or =scaled runs one deployment only (profiling one of them).
    const which = process.env.BENCH_INGEST ?? 'all';
    if (which !== 'scaled') {
      const embedded = await startHub({ config: benchHubConfig(echo.url), env: { BENCH_WEBHOOK_SECRET: secret, LOG_LEVEL: 'error' } });
      const counter = await handledCounter(`sqlite:${join(embedded.dataDir, 'hub.db')}`);
      try {
        results.push(...(await benchHub('embedded (SQLite store + queue)', embedded, secret, baselines, counter.handled)));
      } finally {
        await counter.close();
        await embedded.dispose();
      }
    }
    if (which !== 'embedded') results.push(...(await benchScaled(secret, baselines, echo.url)));
  } finally {
    echo.child.kill('SIGTERM');
  }
  return results;
}

async function benchScaled(secret: string, baselines: Baselines, callbackUrl: string): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const mongo = await startJongodb();
  const id = randomUUID().slice(0, 8);
  // The hub's queue uses one fixed key prefix: this run keeps to its own Redis database number.
  const redis = withRedisDatabase(13);
  await redis.clear();
  const storeUrl = withDatabase(mongo.url, `bench-ingest-${id}`);
  const scaled = await startHub({
    config: benchHubConfig(callbackUrl),
    env: { BENCH_WEBHOOK_SECRET: secret, LOG_LEVEL: 'error', MONGODB_URI: storeUrl, REDIS_URL: redis.url },
  });
  const counter = await handledCounter(storeUrl);
  try {
    results.push(...(await benchHub('MongoDB (jongodb) + Redis', scaled, secret, baselines, counter.handled)));
  } finally {
    await counter.close();
    await scaled.dispose();
    await redis.clear();
    mongo.child?.kill('SIGTERM');
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchIngest()) process.stdout.write(`${r.name}\n${JSON.stringify(r.figures, null, 2)}\n`);
}
