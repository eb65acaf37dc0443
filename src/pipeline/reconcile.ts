// Scheduled reconciliation: catches what webhooks missed (senders like GitHub never retry a failed
// delivery). Each connection with `reconcile.cron` gets a schedule; on every tick the processes race
// for `store.ticks.claim`, so exactly one of them enqueues the run, and whichever process's worker
// takes the job asks the connector for records changed since the stored cursor, hands each page's
// events to the engine, and stores the cursor after each page — a crash resumes where it stopped,
// and the cost of a run grows with the changed records, not with all of them.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import cron, { type ScheduledTask } from 'node-cron';
import type { HubConfig } from '../config/types.ts';
import { RetryLaterError, type Job, type Queue } from '../queue/port.ts';
import { HttpError, type CanonicalEvent, type ConnectionSettings, type Logger, type ReconcileContext } from '../sdk/index.ts';
import type { Store } from '../store/port.ts';

import { buildConnections } from './connections.ts';
import type { ConnectionRuntime } from './context.ts';

/** What a run needs of a connection: its connector, HTTP client (one rate limit and one circuit breaker
 * per connection, shared with outbound actions) and mappings. */
export type ReconcileConnection = Pick<ConnectionRuntime, 'settings' | 'connector' | 'http' | 'normalize' | 'render'>;

export interface ReconcilerDeps {
  config: HubConfig;
  store: Store;
  queue: Queue;
  log: Logger;
  handleEvents(connectionId: string, events: CanonicalEvent[], opts: { correlation: string | null }): Promise<unknown>;
  now?: () => Date;
  /** The pipeline's connection runtimes; when absent they are built here on first use. */
  connections?: Map<string, ReconcileConnection>;
  /** Names this process in tick claims (default host:pid:random). */
  owner?: string;
}

export interface ReconcileReport {
  connectionId: string;
  runId: string;
  /** The schedule tick the run was claimed for; null for a run asked for directly. */
  tick: string | null;
  startedAt: string;
  finishedAt: string;
  pages: number;
  events: number;
  cursorBefore: string | null;
  cursorAfter: string | null;
}

export interface LastSync {
  at: string;
  runId: string;
  pages: number;
  events: number;
}

export interface Reconciler {
  /** Schedules every connection with `reconcile.cron` and starts this process's 'reconcile' worker. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** One run now, in this process (the queue job calls it with its tick; also tests and tools). */
  runOnce(connectionId: string, opts?: { tick?: string | null }): Promise<ReconcileReport>;
  /** The last finished run, whichever process ran it; null if none yet. */
  lastSync(connectionId: string): Promise<LastSync | null>;
}

export interface ReconcileJob {
  connectionId: string;
  /** The schedule tick (ISO, whole seconds) this run was claimed for; null for a run asked by hand. */
  tick: string | null;
}

/** Cursor names in the store's cursor table. */
const cursorName = 'reconcile';
const lastSyncName = 'reconcile:last-sync';

/** A tick as every process names it: the scheduled time (not when this process woke up), whole seconds. */
export function tickOf(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** Job ids: the tick makes a retried enqueue of the same tick a no-op. Characters kept to what every
 * queue adapter accepts in an id (BullMQ refuses ':'). */
function jobIdOf(connectionId: string, tick: string): string {
  return `reconcile_${connectionId}_${tick}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { config, store, queue, log } = deps;
  const now = deps.now ?? (() => new Date());
  const owner = deps.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const tasks: ScheduledTask[] = [];
  let built: Promise<Map<string, ConnectionRuntime>> | null = null;

  async function connectionOf(connectionId: string): Promise<ReconcileConnection> {
    const connections = deps.connections ?? (await (built ??= buildConnections(config, log)));
    const conn = connections.get(connectionId);
    if (!conn) throw new Error(`reconcile: no connection "${connectionId}" is configured`);
    return conn;
  }

  async function runOnce(connectionId: string, opts: { tick?: string | null } = {}): Promise<ReconcileReport> {
    const tick = opts.tick ?? null;
    const conn = await connectionOf(connectionId);
    const reconcile = conn.connector.reconcile;
    if (!reconcile) throw new Error(`reconcile: connector "${conn.connector.id}" of connection "${connectionId}" cannot reconcile`);
    const runId = `reconcile-${randomUUID()}`;
    const startedAt = now().toISOString();
    const cursorBefore = await store.cursors.get(connectionId, cursorName);
    let cursor = cursorBefore;
    let pages = 0;
    let events = 0;
    const ctx: ReconcileContext = {
      connection: conn.settings,
      http: conn.http,
      log,
      now,
      render: (kind, canonical) => conn.render(kind, canonical),
      normalize: (kind, payload) => conn.normalize(kind, payload),
      cursor: cursorBefore,
    };
    const repaired = new Set<string>();
    for await (const page of reconcile(ctx)) {
      if (page.events.length > 0) {
        await deps.handleEvents(connectionId, page.events, { correlation: runId });
        await noteRepairs(conn, connectionId, runId, tick, page.events, repaired);
      }
      // After the page's events are handled: a crash before this line replays the page (the engine is
      // idempotent), a crash after it never does.
      await store.cursors.set(connectionId, cursorName, page.cursor);
      cursor = page.cursor;
      pages++;
      events += page.events.length;
    }
    const finishedAt = now().toISOString();
    if (events > 0) {
      // The engine recorded what each event changed; this entry says why those events arrived late.
      await store.audit.append({
        changeId: null,
        action: 'reconcile',
        actor: 'system',
        sourceTool: conn.connector.id,
        at: finishedAt,
        before: { cursor: cursorBefore },
        after: { cursor, pages, events, tick },
        rationale: `scheduled reconciliation of ${connectionId} found ${events} changed record(s) in ${pages} page(s) and handed them to the engine; any drift from missed webhooks is repaired`,
        correlation: runId,
      });
    }
    const last: LastSync = { at: finishedAt, runId, pages, events };
    await store.cursors.set(connectionId, lastSyncName, JSON.stringify(last));
    log.info({ connection: connectionId, runId, pages, events }, 'reconciliation finished');
    return { connectionId, runId, tick, startedAt, finishedAt, pages, events, cursorBefore, cursorAfter: cursor };
  }

  /** Each change whose trail got entries from this run (a decision, a state, a field the webhooks missed)
   * gets one entry saying the drift was repaired by reconciliation, so its own trail shows why the
   * repair came late; the run's connection-wide 'reconcile' entry has no change to be listed under. */
  async function noteRepairs(conn: ReconcileConnection, connectionId: string, runId: string, tick: string | null, events: CanonicalEvent[], repaired: Set<string>): Promise<void> {
    const changeIds = new Set<string>();
    for (const e of events) {
      const link = await store.links.find(connectionId, e.link.kind, e.link.externalId);
      if (link && !repaired.has(link.changeId)) changeIds.add(link.changeId);
    }
    for (const changeId of changeIds) {
      const entries = (await store.audit.listForChange(changeId)).filter((t) => t.correlation === runId);
      if (entries.length === 0) continue;
      repaired.add(changeId);
      const actions = entries.map((t) => t.action);
      await store.audit.append({
        changeId,
        action: 'drift-repaired',
        actor: 'system',
        sourceTool: conn.connector.id,
        at: now().toISOString(),
        before: null,
        after: { connectionId, runId, tick, repairs: actions },
        rationale: `drift repaired by reconciliation of connection ${connectionId}: ${conn.connector.id} had what no webhook brought (${[...new Set(actions)].join(', ')})`,
        correlation: runId,
      });
    }
  }

  async function onTick(connectionId: string, scheduledAt: Date): Promise<void> {
    const tick = tickOf(scheduledAt);
    try {
      if (!(await store.ticks.claim(`reconcile:${connectionId}`, tick, owner))) return;
      const job: ReconcileJob = { connectionId, tick };
      // maxAttempts small: the next tick starts over from the stored cursor anyway.
      await queue.enqueue({ kind: 'reconcile', id: jobIdOf(connectionId, tick), key: `reconcile:${connectionId}`, payload: job, maxAttempts: 3 });
    } catch (err) {
      log.error({ connection: connectionId, tick, err: String(err) }, 'reconciliation tick could not be scheduled; the next tick tries again');
    }
  }

  async function handleJob(job: Job<ReconcileJob>): Promise<void> {
    try {
      await runOnce(job.payload.connectionId, { tick: job.payload.tick });
    } catch (err) {
      // The vendor asked us to wait: retry then, not on the generic backoff (honours Retry-After).
      if (err instanceof HttpError && err.retryAfterMs !== null) throw new RetryLaterError(err.message, err.retryAfterMs);
      throw err;
    }
  }

  return {
    async start() {
      const scheduled: ConnectionSettings[] = [];
      for (const c of config.connections) {
        if (!c.reconcile) continue;
        const where = `${config.file}: connections[id=${c.id}].reconcile.cron`;
        if (!cron.validate(c.reconcile.cron)) throw new Error(`${where}: "${c.reconcile.cron}" is not a cron expression (five fields, or six with seconds first)`);
        const { connector } = await connectionOf(c.id);
        if (!connector.reconcile) throw new Error(`${where}: connector "${c.connector}" cannot reconcile; remove reconcile from this connection`);
        scheduled.push(c);
      }
      if (scheduled.length === 0) return;
      queue.process<ReconcileJob>('reconcile', handleJob, { concurrency: 2 });
      for (const c of scheduled) {
        const task = cron.schedule(c.reconcile!.cron, (tc) => onTick(c.id, tc.date), { name: `reconcile:${c.id}`, timezone: 'UTC' });
        tasks.push(task);
      }
      log.info({ connections: scheduled.map((c) => c.id) }, 'reconciliation scheduled');
    },
    async stop() {
      for (const t of tasks.splice(0)) await t.destroy();
      // Runtimes built here are closed here; the pipeline's own are the pipeline's to close.
      const own = await built?.catch(() => null);
      for (const c of own?.values() ?? []) await c.close();
    },
    runOnce,
    async lastSync(connectionId) {
      const raw = await store.cursors.get(connectionId, lastSyncName);
      if (raw === null) return null;
      try {
        return JSON.parse(raw) as LastSync;
      } catch {
        return null;
      }
    },
  };
}
