// Processing benchmark: how fast the hub turns stored webhook deliveries into changes on the embedded
// default (SQLite store + SQLite queue), measured apart from ingest. N generic change requests are stored
// through ingest first (signed, durable, as a sender would have them acknowledged), then the pipeline's
// workers start and the clock runs until every delivery is processed and every outbound call it caused
// (the generic connector's callback, answered by a local echo server) is done. In one process, so the
// CPU time per change is the pipeline's own: parse, decide, store, audit, queue, call back (and the
// echo server's, a small share). Store and queue checkpoint on worker threads, as a serving hub does.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { createPipeline } from '../src/pipeline/index.ts';
import { createIngest } from '../src/pipeline/ingest.ts';
import { openQueue } from '../src/queue/index.ts';
import type { Queue } from '../src/queue/port.ts';
import type { Logger } from '../src/sdk/index.ts';
import { openStore } from '../src/store/index.ts';
import { newWebhookSecret, signStandardWebhook } from '../test/support/hub-process.ts';
import { benchHubConfig } from './ingest.ts';

export interface BenchResult {
  name: string;
  figures: Record<string, number | string | boolean>;
}

const deliveries = Number(process.env.BENCH_PROCESSING_DELIVERIES ?? 3000);
const timeoutMs = 300_000;
const quiet: Logger = { info() {}, warn() {}, error(o: unknown, m?: string) { if (process.env.BENCH_DEBUG) console.error(o, m); }, debug() {} };

/** The callback target: answers every call with 200 and its body, like bench/ingest.ts's echo server. */
async function startEcho(): Promise<{ url: string; server: Server; calls: () => number }> {
  let calls = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(chunks.length ? Buffer.concat(chunks) : '{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, calls: () => calls };
}

/** True once nothing a delivery causes is left: no delivery or outbound job waiting or running. */
async function drained(queue: Queue): Promise<boolean> {
  const d = await queue.depth();
  return d.delivery.waiting + d.delivery.running + d.outbound.waiting + d.outbound.running === 0;
}

export async function benchProcessing(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-processing-'));
  const echo = await startEcho();
  const secret = newWebhookSecret();
  const configFile = join(dir, 'hub.yaml');
  // The ingest bench's hub.yaml: its relative store path lands in this folder.
  writeFileSync(configFile, benchHubConfig(echo.url));
  const config = loadConfig({ file: configFile, env: { BENCH_WEBHOOK_SECRET: secret } });
  const store = await openStore(config.store, { log: quiet, backgroundCheckpoints: true });
  const queue = await openQueue('embedded', { log: quiet, sqlitePath: join(dir, 'queue.db'), tuning: {}, backgroundCheckpoints: true });
  const pipeline = createPipeline({ config, store, queue, log: quiet });
  try {
    // Stored and queued before any worker runs, so the timed part is processing alone.
    const ingest = createIngest({ config, store, queue, log: quiet, limits: { maxBacklog: deliveries * 2 } });
    for (let i = 0; i < deliveries; i += 200) {
      await Promise.all(Array.from({ length: Math.min(200, deliveries - i) }, async () => {
        const id = `msg_${randomUUID()}`;
        const body = JSON.stringify({
          type: 'change.requested',
          change: { title: `Deploy ${id}`, type: 'standard', environment: 'staging', requester: 'deployer@example.com', service: 'checkout' },
          link: { kind: 'deployment', externalId: id },
        });
        const outcome = await ingest.receive('bench', { rawBody: Buffer.from(body), headers: signStandardWebhook(secret, id, body), receivedAt: new Date() });
        if (!outcome.ok) throw new Error(`ingest refused a delivery: ${outcome.detail}`);
      }));
    }
    await ingest.stop();
    await pipeline.context();

    // BENCH_PROCESSING_PROFILE=<file>: a CPU profile of the timed part only (ingest left out).
    const profileFile = process.env.BENCH_PROCESSING_PROFILE;
    const profiler = profileFile ? new Session() : null;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await pipeline.start();
    const deadline = Date.now() + timeoutMs;
    while (!(await drained(queue))) {
      if (Date.now() > deadline) throw new Error(`not drained after ${timeoutMs / 1000} s: ${JSON.stringify(await queue.depth())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    if (profiler && profileFile) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(profileFile, JSON.stringify(profile));
      profiler.disconnect();
    }

    const counts = await store.deliveries.countByStatus();
    if (counts.processed !== deliveries) throw new Error(`expected ${deliveries} processed deliveries, got ${JSON.stringify(counts)}`);
    const dead = (await queue.depth()).outbound.dead;
    return [{
      name: 'processing: embedded (sqlite store + queue), generic change requests',
      figures: {
        deliveries,
        'changes processed/s': Math.round(deliveries / seconds),
        'CPU ms/change': Number(((cpu.user + cpu.system) / 1000 / deliveries).toFixed(2)),
        'callbacks/change': Number((echo.calls() / deliveries).toFixed(2)),
        'outbound dead letters': dead,
        's total': Number(seconds.toFixed(1)),
      },
    }];
  } finally {
    await pipeline.stop();
    await queue.close();
    await store.close();
    await new Promise((r) => echo.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  for (const r of await benchProcessing()) process.stdout.write(`${r.name}  ${Object.entries(r.figures).map(([k, v]) => `${k}=${v}`).join('  ')}\n`);
}
