// Webhook ingest: verify → dedupe → store durably → acknowledge → enqueue. HTTP-free, so the route in
// src/http/routes/webhooks.ts stays a thin adapter and the bench and tests can reason about one place.
//
// Why each piece is here:
// - The 202 is sent only after the delivery is durable: senders such as GitHub never retry a delivery
//   they saw acknowledged, so an acknowledged delivery that is lost is lost for good. Durable means
//   committed to the store, or on the embedded default synced to the ingest journal (ingest-journal.ts),
//   from which the store gets it milliseconds later or, after a crash, at the next start.
// - Concurrent deliveries share one commit (`deliveries.insertMany`): a commit costs about the same for
//   one row as for a hundred, so batching is what lets ingest keep up with bare Fastify.
// - Enqueueing happens after the acknowledgement and may be lost in a crash (or refused by a queue that
//   is down); the sweep re-enqueues any delivery still 'received' with job id = delivery id (the queue
//   adds an id once), so nothing stored is ever left unprocessed. It runs at start (after a crash) and
//   after the queue refused an enqueue, not on a timer: with a large backlog, walking every delivery
//   still waiting for its turn would be most of the HTTP thread's work.
// - The writes themselves go through a DeliveryWriter (delivery-writer.ts): on SQLite the journal, then
//   a thread of its own, so a commit never stops this thread from reading and verifying the next webhooks.
// - Load is shed at once (429 + Retry-After) instead of queueing without bound: GitHub gives up after
//   10 s and PagerDuty after 5 s, and a sender that times out retries anyway — better it is told to.
//   (503 for a sender that disables a hook answered with any 4xx: the connector's busyStatus.)
import { createHash } from 'node:crypto';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Counter, Registry } from 'prom-client';
import { connectorById } from '../../connectors/index.ts';
import type { HubConfig } from '../config/types.ts';
import type { Queue } from '../queue/port.ts';
import type { ConnectionSettings, InboundDelivery, Logger, WebhookSpec } from '../sdk/index.ts';
import type { DeliveryRecord, Store } from '../store/port.ts';
import { timeOrderedId } from '../time-ordered-id.ts';
import { localDeliveryWriter, type DeliveryToWrite, type DeliveryWriter, type NewDelivery, type WrittenDelivery } from './delivery-writer.ts';

export interface IngestLimits {
  /** Deliveries being verified, stored or awaiting their commit in this process; past it, 429. */
  maxInFlight: number;
  /** Deliveries per commit. */
  batchMaxItems: number;
  /** How long the first delivery of a batch waits for others to join. A commit costs an fsync (~4-10 ms
   * on common disks) whatever its size, and senders answered by one commit send their next deliveries
   * within a millisecond or two: waiting that long turns many small commits into one. Default: what the
   * writer asks for (a writer thread gathers by itself while its previous commit runs: 0). */
  batchWaitMs?: number;
  /** Commits running at once (a second one fills while the first is being written). */
  batchConcurrency: number;
  /** Deliveries stored but not yet handed to the queue; past it, new deliveries get 429 until it drains. */
  maxPendingEnqueues: number;
  /** A delivery not committed by then gets 503 + Retry-After (it may still be stored; the sender's retry
   * is then answered as a duplicate). Keeps every answer well inside senders' timeouts. */
  ackDeadlineMs: number;
  /** While the oldest delivery waiting for its commit has waited longer than this (ms), new deliveries
   * get 429 at once. A bound in time, not in count: how many deliveries a hub commits per second
   * depends on its disk and cores, and under a sustained overload a count-only bound lets every
   * delivery it admits wait for all those ahead of it, which senders feel as an answer seconds late. */
  maxCommitWaitMs: number;
  /** Event-loop delay (ms, 99th percentile over the last window) past which new deliveries get 429 at
   * once. Requests queue in the socket before any handler sees them, so in-flight counts alone miss an
   * overloaded process; a late event loop is what makes every answer late. */
  maxEventLoopDelayMs: number;
  /** Share of the last second the event loop was busy (0–1) past which new deliveries get 429 at once.
   * A loop that is never idle reads each request later than the last, and that wait is in the sockets,
   * where neither the loop's lateness (it still runs its timers nearly on time between batches of
   * sockets) nor the in-flight count shows it. Measured on two cores at twice the sustainable rate, a hub
   * that went on admitting acknowledged seconds late (p99 0.5–4 s, some senders timed out); refusing past
   * 0.97 gives the loop back the time to answer (p99 140–400 ms, no refusals at full or half load: a
   * loop answering a closed loop of senders as fast as it can is busy 0.85–0.9 of each second). Over a
   * second, not one window: a quarter second spent on one slow batch must not turn senders away. */
  maxEventLoopBusy: number;
  /** Deliveries stored but not yet processed (the queue's delivery backlog, all processes); past it, 429.
   * Ingest outpaces processing: the queue absorbs bursts, but an unbounded backlog means approvals
   * that arrive minutes late, so past this the senders are asked to hold their deliveries instead. */
  maxBacklog: number;
  /** How often the backlog is read from the queue. */
  backlogCheckMs: number;
  /** Seconds a refused sender is asked to wait. */
  retryAfterSeconds: number;
  /** How often ingest checks whether the queue refused an enqueue since the last sweep (then sweeps). */
  sweepIntervalMs: number;
}

export const defaultIngestLimits: IngestLimits = Object.freeze({
  maxInFlight: 2000,
  batchMaxItems: 256,
  batchConcurrency: 2,
  maxPendingEnqueues: 5000,
  ackDeadlineMs: 800,
  maxCommitWaitMs: 100,
  maxEventLoopDelayMs: 150,
  maxEventLoopBusy: 0.97,
  maxBacklog: 100_000,
  backlogCheckMs: 1_000,
  retryAfterSeconds: 1,
  sweepIntervalMs: 10_000,
});

export interface IngestDeps {
  config: HubConfig;
  store: Store;
  queue: Queue;
  log: Logger;
  now?: () => Date;
  limits?: Partial<IngestLimits>;
  /** Where the ingest counters are registered (the app's /metrics registry). */
  metrics?: Registry;
  /** Where deliveries are written; default: in this thread, through `store` and `queue`. Ingest closes it on stop. */
  writer?: DeliveryWriter;
}

/** Why a delivery was refused; also the `reason` label of the rejection counter. */
export type RejectionReason =
  | 'unknown-connection'
  | 'no-webhooks'
  | 'bad-signature'
  | 'unparsable'
  | 'too-large'
  | 'overloaded'
  | 'store-unavailable';

export type IngestRefusal = { ok: false; status: 400 | 401 | 404 | 413 | 429 | 503; reason: RejectionReason; detail: string; retryAfterSeconds?: number };
export type IngestOutcome = { ok: true; deliveryId: string; duplicate: boolean } | IngestRefusal;

export interface Ingest {
  /** Handles one inbound delivery for a connection; resolves once it is durably stored (or refused). */
  receive(connectionId: string, delivery: InboundDelivery): Promise<IngestOutcome>;
  /** The 429 (or the connector's busyStatus) a delivery for this connection would get now because the hub is at capacity, or null. Asked
   * before the body is read, so shedding load costs the hub as little as it can; `receive` asks again. */
  admit(connectionId: string): IngestRefusal | null;
  /** Counts a refusal decided before `receive` (e.g. the HTTP layer's body limit). */
  countRejection(connectionId: string, reason: RejectionReason): void;
  /** Re-enqueues stored deliveries still 'received' at or before `receivedBefore`; returns how many. */
  sweep(receivedBefore: Date): Promise<number>;
  /** Sweeps what a previous run left behind, then again whenever the queue refused an enqueue. */
  start(): Promise<void>;
  /** Stops sweeping and waits for pending commits and enqueues. */
  stop(): Promise<void>;
}


// On the app's registry when given (served at /metrics), so several apps in one process keep apart.
function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** Headers never stored: credentials, whatever the connector declares secret. */
const alwaysSecret = ['authorization', 'proxy-authorization', 'cookie'];

// A dedupe key the sender controls is bounded so hostile input cannot grow the unique index.
const maxDedupeKeyLength = 200;

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Sender-chosen dedupe key when the connector knows one, else a hash of the body (a retry of a
 * delivery without an id sends the same bytes). */
function dedupeKeyOf(spec: WebhookSpec, delivery: InboundDelivery, body: unknown): string {
  let key: string | null = null;
  try {
    key = spec.dedupeKey(delivery, body);
  } catch {
    key = null;
  }
  if (key === null || key === '') return `sha256:${sha256(delivery.rawBody)}`;
  return key.length > maxDedupeKeyLength ? `sha256-id:${sha256(key)}` : key;
}

function eventNameOf(spec: WebhookSpec, delivery: InboundDelivery, body: unknown): string | null {
  try {
    const name = spec.eventName(delivery, body);
    return name === null ? null : name.slice(0, 200);
  } catch {
    return null;
  }
}

/** The queue key of a delivery's processing job: the connection, narrowed to the record the delivery
 * is about when the connector can tell (see WebhookSpec.orderingKey). Computed again from the stored
 * delivery by the sweep, so it depends on nothing but the delivery. */
export function deliveryJobKey(spec: WebhookSpec, connectionId: string, delivery: InboundDelivery, body: unknown): string {
  let record: string | null = null;
  try {
    record = spec.orderingKey?.(delivery, body) ?? null;
  } catch {
    record = null;
  }
  if (record === null || record === '') return connectionId;
  return `${connectionId}\u0000${record.length > maxDedupeKeyLength ? sha256(record) : record}`;
}

/** Headers not to store for a connection: credentials, and what its connector declares secret. */
function secretHeadersOf(connection: ConnectionSettings, spec: WebhookSpec): string[] {
  const declared = typeof spec.secretHeaders === 'function' ? spec.secretHeaders(connection) : spec.secretHeaders;
  return [...alwaysSecret, ...declared.map((h) => h.toLowerCase())];
}

function storableHeaders(headers: Record<string, string>, secret: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (secret.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Groups concurrent inserts into one commit each: items added while a commit is running wait for the
 * next one, so batches grow with load and cost nothing when idle. */
function createInsertBatcher(writer: DeliveryWriter, limits: IngestLimits) {
  const waitMs = limits.batchWaitMs ?? writer.gatherMs;
  type Waiting = { item: DeliveryToWrite; at: number; resolve: (r: WrittenDelivery) => void; reject: (e: unknown) => void };
  let pending: Waiting[] = [];
  let flushing = 0;
  let scheduled = false;
  const idle: (() => void)[] = [];
  /** The oldest delivery of each batch being written. */
  const writing = new Set<Waiting>();

  function schedule(): void {
    if (scheduled || pending.length === 0 || flushing >= limits.batchConcurrency) return;
    scheduled = true;
    const go = () => {
      scheduled = false;
      void flush();
    };
    // With no wait, every request that arrived in this turn of the event loop joins the batch.
    if (waitMs > 0) setTimeout(go, waitMs);
    else setImmediate(go);
  }

  async function flush(): Promise<void> {
    if (pending.length === 0 || flushing >= limits.batchConcurrency) return;
    const batch = pending.slice(0, limits.batchMaxItems);
    pending = pending.slice(batch.length);
    flushing++;
    const oldest = batch[0]!;
    writing.add(oldest);
    try {
      // Two deliveries with one dedupe key in the same batch: store the first, answer the rest as its duplicates.
      const firstByKey = new Map<string, number>();
      const unique: DeliveryToWrite[] = [];
      const slot = batch.map(({ item }) => {
        const k = `${item.delivery.connectionId}\u0000${item.delivery.dedupeKey}`;
        let i = firstByKey.get(k);
        if (i === undefined) {
          i = unique.push(item) - 1;
          firstByKey.set(k, i);
          return { i, first: true };
        }
        return { i, first: false };
      });
      const results = await writer.write(unique);
      batch.forEach(({ resolve }, n) => {
        const s = slot[n]!;
        const r = results[s.i]!;
        resolve(s.first ? r : { inserted: false, deliveryId: r.deliveryId });
      });
    } catch (err) {
      for (const { reject } of batch) reject(err);
    } finally {
      writing.delete(oldest);
      flushing--;
      if (pending.length > 0) schedule();
      else if (flushing === 0) for (const f of idle.splice(0)) f();
    }
  }

  return {
    get queued(): number {
      return pending.length;
    },
    /** How long (ms) the oldest delivery still waiting for its commit has waited. */
    oldestWaitMs(): number {
      let since = pending[0]?.at ?? Infinity;
      for (const w of writing) since = Math.min(since, w.at);
      return since === Infinity ? 0 : performance.now() - since;
    },
    add(item: DeliveryToWrite): Promise<WrittenDelivery> {
      return new Promise<WrittenDelivery>((resolve, reject) => {
        pending.push({ item, at: performance.now(), resolve, reject });
        if (pending.length >= limits.batchMaxItems) void flush();
        else schedule();
      });
    },
    drained(): Promise<void> {
      if (pending.length === 0 && flushing === 0) return Promise.resolve();
      return new Promise((resolve) => idle.push(resolve));
    },
  };
}

const deadline = Symbol('deadline');
const overloadLogIntervalMs = 5_000;

export function createIngest(deps: IngestDeps): Ingest {
  const limits: IngestLimits = { ...defaultIngestLimits, ...deps.limits };
  const now = deps.now ?? (() => new Date());
  const { store, queue, log } = deps;
  const connections = new Map<string, ConnectionSettings>(deps.config.connections.map((c) => [c.id, c]));
  const writer = deps.writer ?? localDeliveryWriter(store, queue, log);
  const batcher = createInsertBatcher(writer, limits);
  const registry = deps.metrics ?? new Registry();
  const rejections = counter(registry, 'hub_webhook_rejections_total', 'Inbound webhook deliveries refused, by connection and reason.', ['connection', 'reason']);
  const accepted = counter(registry, 'hub_webhook_deliveries_total', 'Inbound webhook deliveries acknowledged, by connection and result (stored or duplicate).', ['connection', 'result']);
  let inFlight = 0;
  let sweepTimer: NodeJS.Timeout | null = null;
  let delay: ReturnType<typeof monitorEventLoopDelay> | null = null;
  let delayTimer: NodeJS.Timeout | null = null;
  let eventLoopDelayMs = 0;
  /** The loop's utilization over the last second, and where each of the last four windows began. */
  let eventLoopBusy = 0;
  let utilizationMarks: EventLoopUtilization[] = [];
  let backlog = 0;
  let backlogTimer: NodeJS.Timeout | null = null;
  let readingBacklog = false;
  let sweeping: Promise<number> | null = null;
  let overloadRefusals = 0;
  let overloadLoggedAt = 0;

  function refuse(connection: string, status: IngestRefusal['status'], reason: RejectionReason, detail: string, retryAfterSeconds?: number): IngestRefusal {
    rejections.inc({ connection, reason });
    if (reason === 'overloaded') {
      // Shedding load refuses thousands a second: one line per interval says so (the counter has each).
      overloadRefusals++;
      const t = Date.now();
      if (t - overloadLoggedAt >= overloadLogIntervalMs) {
        log.warn({ connection, reason, status, refused: overloadRefusals, seconds: overloadLoggedAt === 0 ? null : Math.round((t - overloadLoggedAt) / 1000) }, `webhooks refused: ${detail}`);
        overloadRefusals = 0;
        overloadLoggedAt = t;
      }
    } else {
      // Never the body or headers: they may carry signatures and personal data.
      log.warn({ connection, reason, status }, `webhook refused: ${detail}`);
    }
    return retryAfterSeconds === undefined ? { ok: false, status, reason, detail } : { ok: false, status, reason, detail, retryAfterSeconds };
  }

  function atCapacity(connectionId: string, spec: WebhookSpec): IngestRefusal | null {
    // The sender's "come back later": a 429 would get a GitLab hook disabled for good (see WebhookSpec.busyStatus).
    const busy = spec.busyStatus ?? 429;
    if (eventLoopBusy > limits.maxEventLoopBusy) {
      return refuse(connectionId, busy, 'overloaded', `the hub has been busy ${Math.round(eventLoopBusy * 100)}% of the last second; retry after the given delay`, limits.retryAfterSeconds);
    }
    if (inFlight >= limits.maxInFlight || batcher.queued >= limits.maxInFlight || writer.pendingEnqueues() >= limits.maxPendingEnqueues || eventLoopDelayMs > limits.maxEventLoopDelayMs) {
      return refuse(connectionId, busy, 'overloaded', 'the hub is at capacity; retry after the given delay', limits.retryAfterSeconds);
    }
    const waited = batcher.oldestWaitMs();
    if (waited > limits.maxCommitWaitMs) {
      return refuse(connectionId, busy, 'overloaded', `deliveries are waiting ${Math.round(waited)} ms for their commit; retry after the given delay`, limits.retryAfterSeconds);
    }
    if (backlog >= limits.maxBacklog) {
      return refuse(connectionId, busy, 'overloaded', `${backlog} deliveries are waiting to be processed; retry after the given delay`, limits.retryAfterSeconds);
    }
    return null;
  }

  async function receive(connectionId: string, delivery: InboundDelivery): Promise<IngestOutcome> {
    const connection = connections.get(connectionId);
    // The id comes from the URL: hostile values must not become metric labels.
    if (!connection) return refuse('unknown', 404, 'unknown-connection', `no connection "${connectionId.slice(0, 100)}" is configured`);
    const spec = connectorById(connection.connector)?.webhook;
    if (!spec) return refuse(connectionId, 404, 'no-webhooks', `connection "${connectionId}" (${connection.connector}) does not receive webhooks`);
    const refusal = atCapacity(connectionId, spec);
    if (refusal) return refusal;
    inFlight++;
    try {
      let verdict;
      try {
        verdict = spec.verify(delivery, connection);
      } catch {
        verdict = { ok: false as const, reason: 'the signature could not be checked' };
      }
      if (!verdict.ok) return refuse(connectionId, 401, 'bad-signature', verdict.reason + signatureHint(connectionId, verdict.reason));
      const body = parseJson(delivery.rawBody);
      if (body === unparsable) return refuse(connectionId, 400, 'unparsable', unparsableDetail(delivery.headers['content-type']));
      const key = deliveryJobKey(spec, connectionId, delivery, body);

      const record: NewDelivery = {
        id: timeOrderedId(),
        connectionId,
        dedupeKey: dedupeKeyOf(spec, delivery, body),
        event: eventNameOf(spec, delivery, body),
        receivedAt: delivery.receivedAt.toISOString(),
        headers: storableHeaders(delivery.headers, secretHeadersOf(connection, spec)),
        body: delivery.rawBody.toString('utf8'),
      };
      let timer: NodeJS.Timeout | undefined;
      const stored = batcher.add({ delivery: record, jobKey: key });
      let result: WrittenDelivery | typeof deadline;
      try {
        result = await Promise.race([stored, new Promise<typeof deadline>((resolve) => (timer = setTimeout(resolve, limits.ackDeadlineMs, deadline)))]);
      } catch (err) {
        log.error({ connection: connectionId, err: String(err) }, 'webhook could not be stored');
        return refuse(connectionId, 503, 'store-unavailable', 'the delivery could not be stored; retry after the given delay', limits.retryAfterSeconds);
      } finally {
        clearTimeout(timer);
      }
      if (result === deadline) {
        // The commit may still succeed (the writer then queues it), and the sender's retry is answered as a duplicate.
        stored.catch(() => undefined);
        return refuse(connectionId, 503, 'overloaded', 'the delivery was not stored in time; retry after the given delay', limits.retryAfterSeconds);
      }
      accepted.inc({ connection: connectionId, result: result.inserted ? 'stored' : 'duplicate' });
      return { ok: true, deliveryId: result.deliveryId, duplicate: !result.inserted };
    } finally {
      inFlight--;
    }
  }

  function storedDeliveryKey(d: DeliveryRecord): string {
    const spec = connectorById(connections.get(d.connectionId)?.connector ?? '')?.webhook;
    const rawBody = Buffer.from(d.body, 'utf8');
    const body = parseJson(rawBody);
    if (!spec || body === unparsable) return d.connectionId;
    return deliveryJobKey(spec, d.connectionId, { rawBody, headers: d.headers, receivedAt: new Date(d.receivedAt) }, body);
  }

  async function sweepOnce(receivedBefore: Date): Promise<number> {
    const before = receivedBefore.toISOString();
    let cursor: string | null = null;
    let count = 0;
    do {
      const page = await store.deliveries.list({ status: 'received' }, { limit: 500, cursor });
      for (const d of page.items) {
        if (d.receivedAt > before) continue;
        await queue.enqueue({ kind: 'delivery', id: d.id, key: storedDeliveryKey(d), payload: { deliveryId: d.id } });
        count++;
      }
      cursor = page.next;
    } while (cursor !== null);
    if (count > 0) log.info({ count }, 'stored deliveries handed to the queue again (the queue adds each id once)');
    return count;
  }

  function sweep(receivedBefore: Date): Promise<number> {
    // One sweep at a time; a caller during a sweep shares it.
    if (!sweeping) sweeping = sweepOnce(receivedBefore).finally(() => (sweeping = null));
    return sweeping;
  }

  function sweepInBackground(receivedBefore: Date): void {
    sweep(receivedBefore).catch((err: unknown) => log.error({ err: String(err) }, 'delivery sweep failed; it runs again at the next interval'));
  }

  return {
    receive,
    admit(connectionId) {
      // An unknown connection, or one without webhooks, is answered by receive (404), not here.
      const connection = connections.get(connectionId);
      const spec = connection ? connectorById(connection.connector)?.webhook : undefined;
      if (!spec) return null;
      return atCapacity(connectionId, spec);
    },
    countRejection(connectionId, reason) {
      rejections.inc({ connection: connections.has(connectionId) ? connectionId : 'unknown', reason });
    },
    sweep,
    async start() {
      // Deliveries received before this process started were either queued already (the queue adds
      // the id once) or lost their enqueue in a crash.
      sweepInBackground(now());
      delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      utilizationMarks = [performance.eventLoopUtilization()];
      delayTimer = setInterval(() => {
        // The 99th percentile, not the worst: one garbage collection or one large reconcile page must
        // not turn senders away; a loop that is late again and again must.
        eventLoopDelayMs = delay && delay.count > 0 ? delay.percentile(99) / 1e6 : 0;
        delay?.reset();
        const at = performance.eventLoopUtilization();
        eventLoopBusy = utilizationMarks.length === 4 ? performance.eventLoopUtilization(at, utilizationMarks.shift()).utilization : 0;
        utilizationMarks.push(at);
      }, 250);
      delayTimer.unref();
      backlogTimer = setInterval(() => {
        if (readingBacklog) return;
        readingBacklog = true;
        queue
          .depth()
          .then((d) => (backlog = d.delivery.waiting + d.delivery.running))
          .catch((err: unknown) => log.warn({ err: String(err) }, 'reading the delivery backlog failed'))
          .finally(() => (readingBacklog = false));
      }, limits.backlogCheckMs);
      backlogTimer.unref();
      let failuresSwept = writer.enqueueFailures();
      sweepTimer = setInterval(() => {
        const failures = writer.enqueueFailures();
        if (failures === failuresSwept || sweeping) return;
        // Counted as swept only once a sweep got through: a queue still down is tried again next time.
        sweep(now()).then(
          () => (failuresSwept = failures),
          (err: unknown) => log.error({ err: String(err) }, 'delivery sweep failed; it runs again at the next check'),
        );
      }, limits.sweepIntervalMs);
      sweepTimer.unref();
    },
    async stop() {
      if (sweepTimer) clearInterval(sweepTimer);
      if (delayTimer) clearInterval(delayTimer);
      if (backlogTimer) clearInterval(backlogTimer);
      backlogTimer = null;
      backlog = 0;
      delay?.disable();
      sweepTimer = delayTimer = delay = null;
      eventLoopDelayMs = eventLoopBusy = 0;
      utilizationMarks = [];
      await batcher.drained();
      await writer.close();
      await sweeping?.catch(() => undefined);
    },
  };
}

const unparsable = Symbol('unparsable');

/** What to change when a delivery is signed, but not with what the connection holds: the sender or the
 * hub has the wrong secret (the common case on setup and mid-rotation), or a proxy changed the body. */
function signatureHint(connectionId: string, reason: string): string {
  const secrets = `connection "${connectionId}"'s webhook.secret nor one of its webhook.secrets`;
  if (/does not match the body$/.test(reason)) return `: the sender's secret is neither ${secrets} (or something on the way changed the body)`;
  // A token sent as it is (GitLab, an Azure DevOps header): no signature, so only the value can differ.
  if (/does not match the configured secret$/.test(reason)) return `: the sender's value is neither ${secrets}`;
  if (reason === 'basic credentials do not match') {
    return `: not connection "${connectionId}"'s webhook.username and webhook.password`;
  }
  return '';
}

/** Why a body is refused, with the fix when the sender's settings are the cause: GitHub repository
 * webhooks, for one, default to a form-encoded body (payload=…). */
function unparsableDetail(contentType: string | undefined): string {
  if (contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    return 'the body is form-encoded, not JSON: set the webhook\'s content type to application/json in the sending tool';
  }
  return 'the body is not valid JSON';
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return unparsable;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return unparsable;
  }
}
