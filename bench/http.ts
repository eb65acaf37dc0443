// HTTP overhead of the hub's stack (problem JSON, auth, metrics, OpenAPI schemas) against a bare Fastify
// JSON echo, in the same run on the same machine, each server in its own child process on 127.0.0.1:
// - bare Fastify: GET /echo answering a small JSON object;
// - hub: GET /healthz (no auth, no store) and GET /api/v1/changes (bearer token looked up in the store,
//   a page of 50 changes read from SQLite).
// Reported as req/s, p50 and p99, and as ratios to the echo. 5 s per run after a 1 s warm-up.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { createToken } from '../src/http/plugins/auth.ts';
import { openStore } from '../src/store/index.ts';
import { repoRoot, startHub } from '../test/support/hub-process.ts';
import { startServer } from './support.ts';

// autocannon ships no type declarations: the part of its API used here.
interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: { url: string; connections: number; duration: number; headers?: Record<string, string> }) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface BenchResult {
  name: string;
  figures: Record<string, number | string | boolean>;
}

const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 5);
const CONNECTIONS = 32;

const echoSource = `
import fastify from 'fastify';
const app = fastify({ logger: false });
app.get('/echo', async () => ({ status: 'ok' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.stdout.write('listening\\n');
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
`;

interface Run { rps: number; p50: number; p99: number; non2xx: number; errors: number }

async function load(url: string, headers: Record<string, string> = {}): Promise<Run> {
  await autocannon({ url, connections: 8, duration: 1, headers }); // warm-up: JIT, page cache
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers });
  return { rps: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts };
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : Number((a / b).toFixed(3)));

export async function benchHttp(): Promise<BenchResult[]> {
  const echo = await startServer('echo server', ['--input-type=module', '-e', echoSource]);
  let base: Run;
  try {
    base = await load(`${echo.url}/echo`);
  } finally {
    echo.child.kill('SIGTERM');
  }
  const hub = await startHub({
    config: ['store: sqlite:./hub.db', 'queue: embedded', `policy: ${join(repoRoot, 'config', 'policy.yaml')}`, `mappingsDir: ${join(repoRoot, 'mappings')}`, ''].join('\n'),
    env: { LOG_LEVEL: 'error' },
  });
  const results: BenchResult[] = [{ name: 'http: bare fastify GET /echo', figures: { 'req/s': base.rps, 'p50 ms': base.p50, 'p99 ms': base.p99 } }];
  try {
    const store = await openStore(loadConfig({ file: hub.configFile, env: {} }).store);
    let secret: string;
    try {
      secret = (await createToken(store, { name: 'bench', roles: ['viewer'] })).secret;
      for (let i = 0; i < 200; i++) {
        const id = `chg-bench-${String(i).padStart(4, '0')}`;
        await store.changes.create({ id, state: i % 3 ? 'approved' : 'pending-approval', tier: i % 2 ? 'low' : 'high', team: 'payments', environment: 'production', type: 'normal', data: { id, title: `bench change ${i}` } });
      }
    } finally {
      await store.close();
    }
    const runs: [string, string, Record<string, string>][] = [
      ['http: hub GET /healthz', '/healthz', {}],
      ['http: hub GET /api/v1/changes (bearer token, 50 changes)', '/api/v1/changes', { authorization: `Bearer ${secret}` }],
    ];
    for (const [name, path, headers] of runs) {
      const r = await load(`${hub.url}${path}`, headers);
      results.push({
        name,
        figures: {
          'req/s': r.rps, 'p50 ms': r.p50, 'p99 ms': r.p99,
          'req/s vs echo': ratio(r.rps, base.rps), 'p50 vs echo': ratio(r.p50, base.p50), 'p99 vs echo': ratio(r.p99, base.p99),
          'non-2xx': r.non2xx, errors: r.errors,
        },
      });
    }
  } finally {
    await hub.dispose();
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchHttp()) process.stdout.write(`${r.name}\n${JSON.stringify(r.figures, null, 2)}\n`);
}
