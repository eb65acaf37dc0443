// Load at a fixed rate, for the runs whose goal is stated at a rate ("p99 at half load", "at twice the
// sustainable rate"). Requests go out at evenly spaced times whatever the server does, as webhooks from
// many senders do, and each latency counts from when its request was due, not from when a free
// connection got to send it: a server that falls behind is charged for the wait it causes. A request
// due while every open connection waits for an answer gets a new connection, as the next sender's
// delivery would, up to `maxConnections`: the server sees the offered load, and it is the server that
// must refuse what it cannot take.
//
// Why not autocannon's `overallRate`: it lets each connection send its quota for the second back to back
// as fast as answers come, then pause until the next second. At half the sustainable rate that is the
// full load for the first half of every second and nothing for the rest, so "half load" measured the
// full-load latency; and its correction for coordinated omission assumes evenly spaced requests, which
// those bursts are not.
import { connect, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { percentile } from './support.ts';

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

const headerEnd = Buffer.from('\r\n\r\n');

/** One keep-alive connection with at most one request on it. Responses are read by hand (status line
 * and Content-Length, which is how Fastify answers): node:http's client costs several times more per
 * request, and on two shared cores the generator's own cost is taken from the server it measures. */
class Connection {
  readonly socket: Socket;
  due: number | null = null;
  private buf: Buffer = Buffer.alloc(0);

  constructor(host: string, port: number, onAnswer: (c: Connection, status: number) => void, onGone: (c: Connection) => void) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      const end = this.buf.indexOf(headerEnd);
      if (end < 0) return;
      const head = this.buf.toString('latin1', 0, end);
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buf.length < end + 4 + length) return;
      this.buf = this.buf.subarray(end + 4 + length);
      onAnswer(this, Number(head.slice(9, 12)));
    });
    this.socket.once('close', () => onGone(this));
    this.socket.on('error', () => undefined); // 'close' follows and says it
  }
}

export async function paced(opts: PacedOptions): Promise<PacedRun> {
  const target = new URL(opts.url);
  const host = target.hostname;
  const port = Number(target.port);
  const total = Math.max(1, Math.round(opts.rate * opts.seconds));
  const latencies: number[] = [];
  const run: PacedRun = { rps: 0, p50: 0, p90: 0, p99: 0, max: 0, ok2xx: 0, refused: 0, otherNon2xx: 0, timeouts: 0, errors: 0, generatorDelayP99: 0 };
  const idle: Connection[] = [];
  const busy = new Set<Connection>();
  const due: number[] = []; // requests due while every allowed connection was busy, oldest first
  let settled = 0;
  let sent = 0;
  let allSettled: () => void = () => {};
  const done = new Promise<void>((resolve) => (allSettled = resolve));
  const settle = () => {
    if (++settled === total) allSettled();
  };

  const requestBytes = (): Buffer => {
    const { body, headers } = opts.next();
    const lines = [`POST ${opts.path} HTTP/1.1`, `host: ${target.host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), `content-length: ${Buffer.byteLength(body)}`, '', body];
    return Buffer.from(lines.join('\r\n'));
  };
  const start = (c: Connection, at: number) => {
    c.due = at;
    busy.add(c);
    c.socket.write(requestBytes());
  };
  const free = (c: Connection) => {
    const next = due.shift();
    if (next === undefined) idle.push(c);
    else start(c, next);
  };
  const onAnswer = (c: Connection, status: number) => {
    if (c.due === null) return;
    latencies.push(performance.now() - c.due);
    if (status >= 200 && status < 300) run.ok2xx++;
    else if (status === 429 || status === 503) run.refused++;
    else run.otherNon2xx++;
    c.due = null;
    busy.delete(c);
    settle();
    free(c);
  };
  const onGone = (c: Connection) => {
    busy.delete(c);
    const i = idle.indexOf(c);
    if (i >= 0) idle.splice(i, 1);
    if (c.due !== null) {
      c.due = null;
      run.errors++;
      settle();
    }
    // A request still waiting for a connection gets a new one.
    const next = due.shift();
    if (next !== undefined) start(new Connection(host, port, onAnswer, onGone), next);
  };
  const send = (at: number) => {
    const c = idle.pop() ?? (busy.size < opts.maxConnections ? new Connection(host, port, onAnswer, onGone) : null);
    if (c) start(c, at);
    else due.push(at);
  };
  // Requests unanswered past the timeout lose their connection, as a sender's would.
  const reaper = setInterval(() => {
    const now = performance.now();
    for (const c of busy) {
      if (c.due !== null && now - c.due > opts.timeoutMs) {
        c.due = null;
        run.timeouts++;
        settle();
        c.socket.destroy();
      }
    }
    while (due.length > 0 && now - due[0]! > opts.timeoutMs) {
      due.shift();
      run.timeouts++;
      settle();
    }
  }, 100);

  const lateness = monitorEventLoopDelay({ resolution: 5 });
  lateness.enable();
  const t0 = performance.now();
  const intervalMs = 1000 / opts.rate;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Everything due by now goes out now: timers fire every millisecond or so, a little late at times.
      while (sent < total && t0 + sent * intervalMs <= now) send(t0 + sent++ * intervalMs);
      if (sent < total) setTimeout(tick, tickMs);
      else resolve();
    };
    tick();
  });
  const windowSeconds = (performance.now() - t0) / 1000;
  await done;
  lateness.disable();
  clearInterval(reaper);
  for (const c of [...idle, ...busy]) c.socket.destroy();
  latencies.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  run.rps = Math.round((run.ok2xx + run.refused + run.otherNon2xx) / windowSeconds);
  run.p50 = round(percentile(latencies, 50));
  run.p90 = round(percentile(latencies, 90));
  run.p99 = round(percentile(latencies, 99));
  run.max = round(latencies.at(-1) ?? 0);
  run.generatorDelayP99 = round(lateness.percentile(99) / 1e6);
  return run;
}
