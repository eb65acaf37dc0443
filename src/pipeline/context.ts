// What every part of the pipeline shares: the ports, the loaded policy and directory, and one runtime
// per configured connection (its connector, HTTP client and circuit breaker, built once at start).
import type { HubConfig } from '../config/types.ts';
import type { CompiledPolicy, Directory } from '../core/types.ts';
import type { CircuitBreaker } from '../http-client/index.ts';
import type { Queue } from '../queue/port.ts';
import type { ActionContext, ActionDefinition, ConnectionSettings, ConnectorDefinition, HttpClient, JsonObject, Logger, ParseContext } from '../sdk/index.ts';
import type { Store } from '../store/port.ts';
import type { HistoryCache } from './history.ts';

export type ConflictRule = 'reject-wins' | 'manual';

export interface ConnectionRuntime {
  settings: ConnectionSettings;
  connector: ConnectorDefinition;
  /** Outbound actions the connector declares, by intent. */
  actions: Map<string, ActionDefinition>;
  http: HttpClient;
  breaker: CircuitBreaker;
  /** The connection's mapping files, both directions. */
  normalize: ParseContext['normalize'];
  render(kind: string, canonical: JsonObject): JsonObject;
  /** The change system of record (connection option `systemOfRecord: true`): approvals are opened there. */
  systemOfRecord: boolean;
  /** ISO time of the last successful exchange with the vendor (inbound or outbound). Like the breaker's
   * state, kept in memory the hub's threads share (connections.ts), so a built runtime reads and writes
   * it through accessors: copy the runtime with accessors (as reload.ts does), never by spreading it. */
  lastSync: string | null;
  close(): Promise<void>;
}

export interface PipelineContext {
  config: HubConfig;
  store: Store;
  queue: Queue;
  log: Logger;
  now(): Date;
  policy: CompiledPolicy;
  directory: Directory;
  connections: Map<string, ConnectionRuntime>;
  conflictRule: ConflictRule;
  /** Recent changes per team for the risk model's history (see history.ts). */
  historyCache: HistoryCache;
}

/** Reads `conflicts.rule` from the hub config (default: a rejection wins). */
export function conflictRuleOf(config: HubConfig): ConflictRule {
  const rule = (config as HubConfig & { conflicts?: { rule?: unknown } }).conflicts?.rule;
  if (rule === undefined || rule === null) return 'reject-wins';
  if (rule === 'reject-wins' || rule === 'manual') return rule;
  throw new Error(`${config.file}: conflicts.rule must be "reject-wins" or "manual", got ${JSON.stringify(rule)}`);
}

/** The connection whose record carries the approval (ServiceNow in the usual setup), if any. */
export function systemOfRecord(ctx: PipelineContext): ConnectionRuntime | null {
  for (const c of ctx.connections.values()) if (c.systemOfRecord) return c;
  return null;
}

/** The context a connector action runs with: the connection's one HTTP client, mappings (both ways: an
 * action may read a record back, e.g. ServiceNow's sync-state its current state) and clock. */
export function actionContext(ctx: PipelineContext, conn: ConnectionRuntime): ActionContext {
  return { connection: conn.settings, http: conn.http, log: ctx.log, now: ctx.now, render: conn.render, normalize: conn.normalize };
}
