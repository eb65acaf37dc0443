// `approval-hub connections test`: for each configured connection, the connector's own health check
// through the same HTTP client the hub uses (auth, rate limiter, circuit breaker), so "OK" means the
// credentials in hub.yaml are accepted and the vendor is reachable from this host.
import type { HubConfig } from '../config/types.ts';
import { HttpError, type Logger } from '../sdk/index.ts';
import { buildConnections, type ConnectionOptions } from './connections.ts';
import type { ConnectionRuntime } from './context.ts';

export interface ConnectionTestResult {
  connectionId: string;
  connector: string;
  /** ok: credentials accepted and host reachable; fail: not; unchecked: the connector declares no health check. */
  outcome: 'ok' | 'fail' | 'unchecked';
  detail: string;
}

export interface ConnectionTestOptions {
  /** Only this connection (its id in hub.yaml). */
  connectionId?: string;
  log: Logger;
  /** Client tuning; the default retries once so a check answers in seconds, not after the hub's full backoff. */
  connectionOptions?: ConnectionOptions;
}

/** A connection id that hub.yaml does not have. */
export class UnknownConnectionError extends Error {
  override name = 'UnknownConnectionError';
}

export async function testConnections(config: HubConfig, opts: ConnectionTestOptions): Promise<ConnectionTestResult[]> {
  let selected = config.connections;
  if (opts.connectionId !== undefined) {
    selected = config.connections.filter((c) => c.id === opts.connectionId);
    if (selected.length === 0) {
      const known = config.connections.map((c) => c.id).join(', ') || 'none';
      throw new UnknownConnectionError(`no connection "${opts.connectionId}" in ${config.file} (configured: ${known})`);
    }
  }
  // Only the selected connections are built: a check of one must not need the others' mappings.
  const connections = await buildConnections({ ...config, connections: selected }, opts.log, opts.connectionOptions ?? { retry: { retries: 1, minMs: 200, maxMs: 1_000 }, maxWaitMs: 0 });
  const results: ConnectionTestResult[] = [];
  try {
    for (const conn of connections.values()) results.push(await testOne(conn, opts.log));
  } finally {
    for (const conn of connections.values()) await conn.close();
  }
  return results;
}

async function testOne(conn: ConnectionRuntime, log: Logger): Promise<ConnectionTestResult> {
  const base = { connectionId: conn.settings.id, connector: conn.connector.id };
  if (!conn.connector.health) {
    return { ...base, outcome: 'unchecked', detail: `no health check declared by the ${conn.connector.id} connector${noCheckWhy(conn)}` };
  }
  if (!conn.settings.baseUrl) {
    // A webhook-only entry (as the GitLab, Azure DevOps and PagerDuty READMEs start with) has no API to call.
    const how = `set baseUrl and auth on connection "${conn.settings.id}" to check its API${conn.connector.readme ? ` (see ${conn.connector.readme})` : ''}`;
    if (!conn.connector.actions?.length) return { ...base, outcome: 'unchecked', detail: `no baseUrl: the connection only receives webhooks; ${how}` };
    return { ...base, outcome: 'fail', detail: `no baseUrl: the hub cannot call the ${conn.connector.id} API; ${how}` };
  }
  try {
    const r = await conn.connector.health({
      connection: conn.settings,
      http: conn.http,
      log,
      now: () => new Date(),
      render: conn.render,
      normalize: conn.normalize,
    });
    return { ...base, outcome: r.ok ? 'ok' : 'fail', detail: r.detail };
  } catch (err) {
    return { ...base, outcome: 'fail', detail: failureDetail(err, conn) };
  }
}

function noCheckWhy(conn: ConnectionRuntime): string {
  // The generic connector calls back URLs that arrive with each change; reaching some origin would say
  // nothing about credentials, so nothing is checked rather than a check that proves nothing.
  return conn.connector.id === 'generic' ? ' (its callback URLs come with each change and it holds no vendor credential; send a test event instead)' : '';
}

function failureDetail(err: unknown, conn: ConnectionRuntime): string {
  // Token exchanges (GitHub App JWT → installation token) fail outside the client with their own error
  // type; they carry the vendor's status too.
  const status = err instanceof HttpError ? err.status : typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : null;
  const message = err instanceof Error ? err.message : String(err);
  if (status === 401) return `credentials refused (401): ${message}`;
  if (status === 403) return `authenticated but not allowed (403), check the account's roles/permissions: ${message}`;
  if (status === 0) return `cannot reach ${conn.settings.baseUrl ?? 'the vendor'}: ${message}`;
  if (status !== null) return `${status}: ${message}`;
  return message;
}
