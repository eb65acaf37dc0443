// Builds the context the pipeline hands an action or a reconcile run: the real shared HTTP client
// (src/http-client, no retries and no waiting so a 429 surfaces as HttpError.retryAfterMs), the real
// mapping files, a fixed clock and a logger that keeps what it is told.
import { createHttpClient } from '../../../src/http-client/index.ts';
import type { ActionContext, ActionInput, ConnectionSettings, ConnectorDefinition, JsonObject, Logger, ReconcileContext, ReconcilePage } from '../../../src/sdk/index.ts';
import { mappingsFor } from './fixtures.ts';

export interface Logged {
  level: string;
  obj: object | string;
  msg?: string;
}

export function memoryLogger(): Logger & { entries: Logged[] } {
  const entries: Logged[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => void entries.push({ level, obj, ...(msg ? { msg } : {}) });
  return { entries, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

export async function actionContext(
  connector: ConnectorDefinition,
  connection: ConnectionSettings,
  opts: { now?: Date; cursor?: string | null; authHeaders?: () => Promise<Record<string, string>>; retries?: number } = {},
): Promise<ReconcileContext & { log: ReturnType<typeof memoryLogger> }> {
  const mappings = await mappingsFor(connection, connector.mappingKinds ?? []);
  const log = memoryLogger();
  const http = createHttpClient({
    connection,
    vendor: connector.vendor,
    log,
    retry: { retries: opts.retries ?? 0, minMs: 1, maxMs: 1 },
    maxWaitMs: 0,
    ...(opts.authHeaders ? { authHeaders: opts.authHeaders } : {}),
  });
  const now = opts.now ?? new Date('2024-11-24T13:30:00Z');
  return {
    connection,
    http,
    log,
    now: () => now,
    render: (kind, canonical) => mappings.render(kind, canonical),
    normalize: (kind, payload) => mappings.normalize(kind, payload),
    cursor: opts.cursor ?? null,
  };
}

export function actionInput(intent: string, fields: Partial<ActionInput> = {}): ActionInput {
  return { intent, idempotencyKey: fields.idempotencyKey ?? `key-${intent}`, change: fields.change ?? {}, link: fields.link ?? null, params: fields.params ?? ({} as JsonObject) };
}

export function actionOf(connector: ConnectorDefinition, intent: string) {
  const action = connector.actions?.find((a) => a.intent === intent);
  if (!action) throw new Error(`${connector.id} has no action ${intent}`);
  return (input: ActionInput, ctx: ActionContext) => action.run(input, ctx);
}

export async function allPages(pages: AsyncIterable<ReconcilePage>): Promise<ReconcilePage[]> {
  const out: ReconcilePage[] = [];
  for await (const p of pages) out.push(p);
  return out;
}
