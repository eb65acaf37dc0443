// The sync pipeline: deliveries → connector parse → engine → effects → outbound jobs and timers.
// All I/O goes through the store and queue ports and the connectors' actions; the engine stays pure.
import type { FastifyPluginAsync } from 'fastify';
import { changeWriteRoutes } from '../http/routes/changes-write.ts';
import { conflictRoutes } from '../http/routes/conflicts.ts';
import { decisionRoutes } from '../http/routes/decisions.ts';
import { deliveryRoutes } from '../http/routes/deliveries.ts';
import { gateRoutes } from '../http/routes/gates.ts';
import { webhookRoutes } from '../http/routes/webhooks.ts';
import type { DeliveryWriter } from './delivery-writer.ts';
import type { HubConfig } from '../config/types.ts';
import { formatPolicyErrors, loadPolicy } from '../policy-files/load.ts';
import type { JobKind, Queue } from '../queue/port.ts';
import type { CanonicalEvent, Logger } from '../sdk/index.ts';
import type { Store } from '../store/port.ts';
import { buildConnections, type ConnectionOptions } from './connections.ts';
import { conflictRuleOf, type PipelineContext } from './context.ts';
import { processDelivery, type DeliveryJob } from './deliveries.ts';
import { directoryPath, loadDirectory } from './directory.ts';
import type { OutboundPayload, TimerPayload } from './effects.ts';
import { handleEvents, type EventOutcome } from './events.ts';
import { runOutbound } from './outbound.ts';
import { createReconciler, type Reconciler as ReconcilerHandle } from './reconcile.ts';
import { createReloader, liveConnections, loadNextContext, reloadableFiles, type Reloader, type ReloadStatus } from './reload.ts';
import { runTimer } from './timers.ts';
import { startProcessingThread, type ProcessingThread, type ProcessingThreadSpec } from './processing-thread.ts';

export type { EventOutcome } from './events.ts';
export type { PipelineContext } from './context.ts';

export interface PipelineDeps {
  config: HubConfig;
  store: Store;
  queue: Queue;
  log: Logger;
  now?: () => Date;
  /** Tuning for tests and benchmarks (breaker thresholds, client retries). */
  connectionOptions?: ConnectionOptions;
  /** Workers per job kind in this process. */
  concurrency?: Partial<Record<JobKind, number>>;
  /** Where ingest writes deliveries (default: this thread, through `store` and `queue`). */
  deliveryWriter?: DeliveryWriter;
  /** Runs the queue consumers and the reconciliation schedule on a thread of their own (the serving
   * hub); without it they run in this thread. */
  processingThread?: ProcessingThreadSpec;
}

export interface StartOptions {
  /** Watch the reloadable files and reload on SIGHUP (default true). A processing thread does not: the
   * thread that owns the signal and the watchers tells it to reload. */
  watch?: boolean;
}

export interface HandleEventsOptions {
  /** Delivery id, request id or reconcile run id: recorded on every audit entry. */
  correlation: string | null;
}

export interface Pipeline {
  /** Fastify route plugins for buildApp: webhooks (ingest), POST changes, decisions, gates, conflicts, deliveries. */
  routes: FastifyPluginAsync[];
  /** Loads policy, directory and connections, then starts the queue workers ('delivery', 'outbound',
   * 'timer'; reconciliation registers 'reconcile'), here or on the processing thread. */
  start(opts?: StartOptions): Promise<void>;
  stop(): Promise<void>;
  /** Per connection: circuit state, last sync; queue depth per job kind; status "degraded" when a circuit is open. */
  health(): Promise<Record<string, unknown>>;
  /** Runs canonical events from a connection through the engine (deliveries and reconciliation). */
  handleEvents(connectionId: string, events: CanonicalEvent[], opts: HandleEventsOptions): Promise<EventOutcome[]>;
  /** Loads the policy, directory and mapping files again; applies them only if all are valid (also on
   * file edits and SIGHUP once started). */
  reload(): Promise<ReloadStatus>;
  /** The context in force (policy, directory, connections); loads it on first use. */
  context(): Promise<PipelineContext>;
}

/** Jobs running at once per kind in one process. Jobs mostly wait (on a vendor, on a commit), and the
 * writes of every job running share one group commit in the SQLite store: 16 deliveries and 32 actions
 * at once process ~1.5x the changes per second of 4 and 8 (bench/processing.ts), at less CPU per change.
 * Vendor rate limits still bound the calls per connection, and records keep their order (ordering keys). */
export const defaultConcurrency = Object.freeze({ delivery: 16, outbound: 32, timer: 2 });

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { config, store, queue, log } = deps;
  const now = deps.now ?? (() => new Date());
  let loading: Promise<PipelineContext> | null = null;
  // The context in force: a reload swaps this one reference, and every job reads it when it starts.
  let current: PipelineContext | null = null;
  let reloader: Reloader | null = null;
  let reconciler: ReconcilerHandle | null = null;
  let started = false;
  let thread: ProcessingThread | null = null;

  const overlays = () => config.policyOverlays ?? [];

  async function load(): Promise<PipelineContext> {
    const directory = await loadDirectory(directoryPath(config));
    // The directory goes to the policy loader too, so a group or role the policy names but nobody has is an error at start.
    const loaded = await loadPolicy(config.policy, { directory, overlays: overlays() });
    const connections = await buildConnections(config, log, deps.connectionOptions);
    if (!loaded.ok) throw new Error(`the approval policy cannot be used:\n${formatPolicyErrors(loaded.errors).join('\n')}`);
    current = { config, store, queue, log, now, policy: loaded.policy, directory, connections, conflictRule: conflictRuleOf(config), historyCache: new Map() };
    reloader = createReloader<PipelineContext>({
      files: () => reloadableFiles(config, overlays()),
      load: () => loadNextContext(current!, overlays()),
      apply: async (next) => {
        current = next;
        // The processing thread loads the same files for itself; the reload is reported applied once it
        // has (so a webhook sent after a reload shows in /readyz is decided with the new files).
        const there = await thread?.reload().catch((err: unknown) => ({ ok: false as const, message: String(err) }));
        if (there && !there.ok) log.error({ status: there }, 'the processing thread did not take the reload; it keeps the previous files');
      },
      log,
      now,
    });
    return current;
  }
  async function context(): Promise<PipelineContext> {
    loading ??= load();
    await loading;
    return current!;
  }

  async function events(connectionId: string, evs: CanonicalEvent[], opts: HandleEventsOptions): Promise<EventOutcome[]> {
    return handleEvents(await context(), connectionId, evs, opts);
  }

  return {
    routes: [
      webhookRoutes({ config, store, queue, log, now, ...(config.ingest ? { limits: { maxBacklog: config.ingest.maxBacklog } } : {}), ...(deps.deliveryWriter ? { writer: deps.deliveryWriter } : {})}),
      changeWriteRoutes({ store, context }),
      decisionRoutes({ store, context }),
      gateRoutes({ store, context }),
      conflictRoutes({ store, context }),
      deliveryRoutes({ store, pending: (id) => deps.deliveryWriter?.pending(id) ?? null }),
    ],
    context,
    handleEvents: events,
    async start(opts: StartOptions = {}) {
      if (started) return;
      started = true;
      await context();
      const live = () => current!;
      // Last sync times are read from the store, wherever the runs happen.
      reconciler = createReconciler({ config, store, queue, log, now, handleEvents: async (id, evs, o) => void (await events(id, evs, o)), connections: liveConnections(() => live().connections) });
      if (opts.watch !== false) reloader!.start();
      if (deps.processingThread) {
        thread = await startProcessingThread(deps.processingThread, log);
        return;
      }
      const c = deps.concurrency ?? {};
      queue.process<DeliveryJob>('delivery', async (job) => {
        try {
          await processDelivery(live(), job);
        } catch (err) {
          // Out of attempts: the delivery says why instead of staying 'received' for ever.
          if (job.attempt >= job.maxAttempts) await store.deliveries.setStatus(job.payload.deliveryId, 'failed', `processing failed ${job.attempt} times: ${err instanceof Error ? err.message : String(err)}`);
          throw err;
        }
      }, { concurrency: c.delivery ?? defaultConcurrency.delivery });
      queue.process<OutboundPayload>('outbound', (job) => runOutbound(live(), job), { concurrency: c.outbound ?? defaultConcurrency.outbound });
      queue.process<TimerPayload>('timer', (job) => runTimer(live(), job), { concurrency: c.timer ?? defaultConcurrency.timer });
      await reconciler.start();
    },
    async stop() {
      reloader?.stop();
      await thread?.stop();
      await reconciler?.stop();
      if (loading && (await loading.then(() => true, () => false))) {
        for (const conn of current!.connections.values()) await conn.close();
      }
    },
    async reload() {
      await context();
      return reloader!.reloadNow();
    },
    async health() {
      const ctx = await context();
      const connections: Record<string, unknown> = {};
      let degraded = false;
      for (const [id, conn] of ctx.connections) {
        const circuit = conn.breaker.snapshot();
        if (circuit.state === 'open') degraded = true;
        const reconciled = reconciler ? await reconciler.lastSync(id) : null;
        const lastSync = [conn.lastSync, reconciled?.at ?? null].filter((s): s is string => s !== null).sort().at(-1) ?? null;
        connections[id] = {
          connector: conn.connector.id,
          systemOfRecord: conn.systemOfRecord,
          circuit: circuit.state,
          circuitDetail: { consecutiveFailures: circuit.consecutiveFailures, openedAt: circuit.openedAt, retryInMs: circuit.retryInMs, lastError: circuit.lastError },
          lastSync,
        };
      }
      return { status: degraded ? 'degraded' : 'ok', connections, queue: await queue.depth(), reload: reloader!.status() };
    },
  };
}
