// Load at a fixed rate, for the runs whose goal is stated at a rate ("p99 at half load", "at twice the
// sustainable rate"). Requests go out at evenly spaced times whatever the server does, as webhooks from
// many senders do, and each latency counts from when its request was due, not from when a free
// connection got to send it: a server that falls behind is charged for the wait it causes. A request
// due while every open connection waits for an answer gets a new connection, as the next sender's
// delivery would: the server sees the whole offered load, and it is the server that must refuse what it
// cannot take (a fixed pool would keep the excess waiting in the load generator, unseen by the server).
//
// Why not autocannon's `overallRate`: it lets each connection send its quota for the second back to back
// as fast as answers come, then pause until the next second. At half the sustainable rate that is the
// full load for the first half of every second and nothing for the rest, so "half load" measured the
// full-load latency; and its correction for coordinated omission assumes evenly spaced requests, which
// those bursts are not.
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface PacedRequest {
  body: string;
  headers: Record<string, string>;
}

export interface PacedRun {
  /** Answers per second over the sending window. */
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  ok2xx: number;
  /** 429 and 503 (the server declining load). */
  refused: number;
  otherNon2xx: number;
  timeouts: number;
  errors: number;
  /** How late the load generator's own event loop ran (99th percentile, ms): on a machine it shares
   * with the server, a busy generator sends late and reads answers late, and its lateness is in the
   * latencies above. */
  generatorDelayP99: number;
}

export interface PacedOptions {
  url: string;
  path: string;
  /** Requests per second. */
  rate: number;
  seconds: number;
  /** Open connections at most (a file-descriptor guard, far above what a server that keeps up needs);
   * a request due while this many wait for answers waits too, and its wait counts. */
  maxConnections: number;
  timeoutMs: number;
  next: () => PacedRequest;
}

const tickMs = 1;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export async function paced(opts: PacedOptions): Promise<PacedRun> {
  const target = new URL(opts.url);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.maxConnections });
  const total = Math.max(1, Math.round(opts.rate * opts.seconds));
  const latencies: number[] = [];
  const run: PacedRun = { rps: 0, p50: 0, p90: 0, p99: 0, max: 0, ok2xx: 0, refused: 0, otherNon2xx: 0, timeouts: 0, errors: 0, generatorDelayP99: 0 };
  let settled = 0;
  let sent = 0;
  let allSettled: () => void = () => {};
  const done = new Promise<void>((resolve) => (allSettled = resolve));
  const settle = () => {
    if (++settled === total) allSettled();
  };

  function send(due: number): void {
    const { body, headers } = opts.next();
    let over = false;
    const req = request(
      { agent, host: target.hostname, port: target.port, path: opts.path, method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        res.resume();
        res.once('end', () => {
          if (over) return;
          over = true;
          const status = res.statusCode ?? 0;
          latencies.push(performance.now() - due);
          if (status >= 200 && status < 300) run.ok2xx++;
          else if (status === 429 || status === 503) run.refused++;
          else run.otherNon2xx++;
          settle();
        });
      },
    );
    req.setTimeout(opts.timeoutMs, () => {
      if (over) return;
      over = true;
      run.timeouts++;
      req.destroy();
      settle();
    });
    req.once('error', () => {
      if (over) return;
      over = true;
      run.errors++;
      settle();
    });
    req.end(body);
  }

  const lateness = monitorEventLoopDelay({ resolution: 5 });
  lateness.enable();
  const start = performance.now();
  const intervalMs = 1000 / opts.rate;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Everything due by now goes out now: timers fire every millisecond or so, a little late at times.
      while (sent < total && start + sent * intervalMs <= now) send(start + sent++ * intervalMs);
      if (sent < total) setTimeout(tick, tickMs);
      else resolve();
    };
    tick();
  });
  const windowSeconds = (performance.now() - start) / 1000;
  await done;
  lateness.disable();
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  run.rps = Math.round((run.ok2xx + run.refused + run.otherNon2xx) / windowSeconds);
  run.p50 = round(percentile(latencies, 0.5));
  run.p90 = round(percentile(latencies, 0.9));
  run.p99 = round(percentile(latencies, 0.99));
  run.max = round(latencies.at(-1) ?? 0);
  run.generatorDelayP99 = round(lateness.percentile(99) / 1e6);
  return run;
}
