// The sync pipeline: deliveries → connector parse → engine → effects → outbound jobs and timers.
// All I/O goes through the store and queue ports and the connectors' actions.
import type { FastifyPluginAsync } from 'fastify';
import type { HubConfig } from '../config/types.ts';
import type { Store } from '../store/port.ts';
import type { Queue } from '../queue/port.ts';
import type { CanonicalEvent, Logger } from '../sdk/index.ts';

export interface PipelineDeps {
  config: HubConfig;
  store: Store;
  queue: Queue;
  log: Logger;
  now?: () => Date;
}

export interface HandleEventsOptions {
  /** Delivery id, request id or reconcile run id: recorded on every audit entry. */
  correlation: string | null;
}

export interface Pipeline {
  /** Fastify route plugins (changes, decisions, gates, conflicts, deliveries) for buildApp. */
  routes: FastifyPluginAsync[];
  /** Registers the queue workers ('delivery', 'outbound', 'timer'). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Per connection: circuit state, last sync, queue depth per job kind; status "degraded" when a circuit is open. */
  health(): Promise<Record<string, unknown>>;
  /** Runs canonical events from a connection through the engine (used by deliveries and reconciliation). */
  handleEvents(connectionId: string, events: CanonicalEvent[], opts: HandleEventsOptions): Promise<void>;
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  void deps;
  throw new Error('createPipeline: not implemented yet');
}
