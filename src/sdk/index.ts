// The connector SDK: the only hub module a connector may import (a lint rule keeps it so).
// A connector is one folder under connectors/<id>/ whose index.ts default-exports
// `defineConnector({...})`; connectors/index.ts lists them all. The hub never imports a connector by name.
//
// Pure where it can be: verify, dedupe and parse are functions of the delivery alone (tested on recorded
// payloads). Actions, reconciliation and health get a `ctx` with the connection's HTTP client, logger and
// clock: no module-level singletons, timers or caches.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Json, JsonObject } from '../store/port.ts';

export type { Json, JsonObject };

// ---------------------------------------------------------------- connection settings
/** A secret from ${env:NAME} or ${file:PATH}. It prints as [redacted]; `reveal()` is the only way in. */
export interface Secret {
  reveal(): string;
  toString(): string;
  toJSON(): string;
}

export interface ConnectionSettings {
  id: string; // connection id, e.g. "servicenow-prod"
  connector: string; // connector id, e.g. "servicenow"
  baseUrl: string | null;
  /** e.g. { type: 'basic', username, password } | { type: 'bearer', token } | { type: 'oauth', ... } |
   * { type: 'github-app', appId, privateKey, installationId } — secret values are Secrets. */
  auth: Record<string, string | Secret | number | boolean> | null;
  /** e.g. { secret } | { secrets: [..] } | { username, password } | { header, value } | { toleranceSeconds } */
  webhook: Record<string, string | Secret | number | boolean | Secret[]> | null;
  /** Mapping file paths by record kind, relative to mappings/ (e.g. { change_request: 'servicenow/change_request.yaml' }). */
  mappings: Record<string, string>;
  reconcile: { cron: string } | null;
  rateLimit: { perSecond: number } | null;
  /** Connector-specific options (e.g. jira project key, assignment group). */
  options: Record<string, Json>;
}

// ---------------------------------------------------------------- inbound
export interface InboundDelivery {
  rawBody: Buffer;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  receivedAt: Date;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** A canonical event the pipeline understands. Produced by parse/normalize and by reconciliation. */
export type CanonicalEvent =
  | {
      type: 'change.requested';
      /** Partial canonical change (src/core change model), from the mapping. */
      change: JsonObject;
      /** The external record this request came from; becomes a link. */
      link: ExternalRef;
      /** More records the change should be linked to (e.g. Jira issue found in a branch name). */
      relatedLinks?: ExternalRef[];
    }
  | {
      type: 'decision.recorded';
      /** Which external record the decision was made on (an approval record, a change request, ...). */
      link: ExternalRef;
      outcome: 'approve' | 'reject';
      actor: string; // the person, as the directory knows them (email or login)
      rationale: string | null;
      at: string;
      onBehalfOf?: string | null;
    }
  | {
      type: 'record.updated';
      link: ExternalRef;
      /** Canonical view of the fields that changed (state, approval, ...). */
      fields: JsonObject;
    }
  | {
      type: 'incident.updated';
      link: ExternalRef;
      incident: JsonObject; // { id, status, urgency/priority, title, url }
    };

/** Identity of a record in an external system, with the version seen. */
export interface ExternalRef {
  kind: string;
  externalId: string;
  url?: string | null;
  version?: string | null;
  data?: JsonObject;
}

export type ParseResult =
  | { status: 'events'; events: CanonicalEvent[] }
  | { status: 'ignored'; reason: string } // e.g. an event type the hub does not handle
  | { status: 'failed'; reason: string }; // e.g. a payload the mapping cannot normalize: which field, why

export interface ParseContext {
  connection: ConnectionSettings;
  /** Applies a mapping file (by record kind) to an external payload, inbound direction. */
  normalize(kind: string, payload: unknown): { ok: true; value: JsonObject } | { ok: false; field: string; reason: string };
}

export interface WebhookSpec {
  /** Constant-time check on the raw body and headers, before anything is stored. */
  verify(delivery: InboundDelivery, connection: ConnectionSettings): VerifyResult;
  /** The sender's delivery id, stable across its retries; null → the hub uses a content hash (`body`: the
   * parsed body, when ingest has it, so a connector reading the id from the body does not parse it again). */
  dedupeKey(delivery: InboundDelivery, body?: unknown): string | null;
  /** The sender's event name, if the delivery says it (`body`: the parsed body, when ingest has it). */
  eventName(delivery: InboundDelivery, body?: unknown): string | null;
  /** Header names that carry secrets and must not be stored (lower-case); a function when the connection
   * names them (an Azure DevOps service hook sends whichever header it was configured with). */
  secretHeaders: string[] | ((connection: ConnectionSettings) => string[]);
  /** What is missing from a connection's `webhook` block (the keys given, before secrets resolve), or null
   * when it is complete. Checked at start and by `approval-hub check`, so a block that could never verify
   * a delivery is refused with its line instead of answering every delivery 401. */
  settingsProblem?(keys: string[]): string | null;
  /** The sender's record this delivery is about (a deployment, an issue, a change request), from the
   * parsed body. Deliveries about one record are processed in the order they arrived; deliveries about
   * different records in parallel. Absent, or null for a delivery: ordered with the whole connection. */
  orderingKey?(delivery: InboundDelivery, body: unknown): string | null;
  /** The status asking this sender to come back later when the hub is at capacity: 429 (the default) for
   * senders that retry it, 503 for one that takes every 4xx as a misconfigured endpoint (GitLab
   * disables such a hook for good, and a 5xx only for a while). */
  busyStatus?: 429 | 503;
}

// ---------------------------------------------------------------- outbound
/** Vendor facts as data, served by the one shared HTTP client and pager (src/http-client/). */
export interface VendorFacts {
  pagination: 'link-header' | 'next-page-token' | 'continuation-token' | 'offset' | 'start-limit' | 'none';
  /** Response headers that say when to retry: seconds (Retry-After) or an epoch/ISO reset time. */
  retryAfterHeaders: string[];
  rateLimitResetHeaders: string[];
  /** A vendor whose rate-limit answer may name no time (GitHub's secondary limit: 403 or 429, maybe
   * without retry-after): words of its error message that mark a 403 as a rate limit, and how long to
   * wait when no header says. Set, the reset header binds only when the budget is spent. */
  rateLimitWithoutTime?: { messages: string[]; waitMs: number };
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string; // relative to the connection's baseUrl, or absolute on the same host
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: unknown; // JSON-encoded unless a string/Buffer
  /** The vendor applies this request at most once however often it arrives (GET, PUT, PATCH and DELETE by
   * default; a POST only when it says so, e.g. one carrying an Idempotency-Key the receiver honours). A
   * request that is not is never sent twice by the client after a 5xx or a lost answer: the vendor may
   * have applied it, and the job's retry looks at the target before acting again. */
  idempotent?: boolean;
}
export interface HttpResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  body: T;
}
export interface PageOptions {
  /** This endpoint's paging when it is not the connection's usual one (one host, two APIs: Jira's
   * search pages by nextPageToken, its servicedeskapi by start/limit). */
  pagination?: VendorFacts['pagination'];
}
export interface HttpClient {
  /** Authenticated, rate-limited, retried (Retry-After honoured), behind the connection's circuit breaker.
   * Throws HttpError for a final non-2xx. */
  request<T = unknown>(req: HttpRequest): Promise<HttpResponse<T>>;
  /** Pages through a list with the connection's pagination style, yielding each page's items. */
  paginate<T = unknown>(req: HttpRequest, itemsOf: (body: unknown) => T[], opts?: PageOptions): AsyncIterable<T[]>;
}

export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly body: unknown;
  readonly retryAfterMs: number | null;
  constructor(message: string, status: number, body: unknown, retryAfterMs: number | null = null) {
    super(message);
    this.status = status;
    this.body = body;
    this.retryAfterMs = retryAfterMs;
  }
}

/** An action that can never succeed as asked (a refused target, a missing link, a permission the hub's
 * account lacks): the job must fail now, not be retried. Everything else thrown is retried. */
export class PermanentError extends Error {
  override name = 'PermanentError';
}

/** Connection-specific authentication the shared HTTP client asks for before each request, for
 * schemes it cannot do from `connection.auth` alone (GitHub App: app JWT → installation token).
 * Created once per connection (pass `headers` as the client's authHeaders), so it may cache tokens
 * until they near expiry. A request's own `headers` win over these (e.g. an app JWT for /app calls). */
export interface ConnectionAuth {
  headers(): Promise<Record<string, string>>;
  /** The vendor answered 401: forget the cached token so the next headers() fetches a new one (pass
   * it as the client's authInvalidate). Returns true if retrying can help. */
  invalidate?(): boolean;
}

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
}

export interface ActionContext {
  connection: ConnectionSettings;
  http: HttpClient;
  log: Logger;
  now(): Date;
  /** Outbound direction of a mapping file: canonical → external fields. */
  render(kind: string, canonical: JsonObject): JsonObject;
  /** Inbound direction, for actions that read records back (e.g. Jira read-approvals). */
  normalize?: ParseContext['normalize'];
}

/** An effect decided by the core, addressed to this connection (src/core effects). */
export interface ActionInput {
  intent: string; // e.g. "open-record", "comment", "answer-gate", "transition", "record-decision"
  idempotencyKey: string;
  change: JsonObject; // canonical change, as the core sees it now
  link: ExternalRef | null; // the record the effect is about, when it exists
  params: JsonObject;
}
export type ActionResult =
  | { status: 'done'; link?: ExternalRef; result?: JsonObject }
  /** The target already shows the effect (checked before acting): nothing was sent. */
  | { status: 'already-done'; link?: ExternalRef; result?: JsonObject };

export interface ActionDefinition {
  intent: string;
  description: string;
  /** The kinds of linked record it acts on (a GitHub gate is answered on its deployment-gate link, not on
   * the change's repository or commit links): the pipeline plans it only for those. Absent: any. */
  linkKinds?: string[];
  run(input: ActionInput, ctx: ActionContext): Promise<ActionResult>;
}

export interface ReconcileContext extends ActionContext {
  cursor: string | null;
  /** Inbound direction of a mapping file, as in ParseContext: reconciled records become the same events as deliveries. */
  normalize: ParseContext['normalize'];
}
export interface ReconcilePage {
  events: CanonicalEvent[];
  /** Where the next run starts; persisted only after the page's events are handled. */
  cursor: string;
}

export interface HealthResult {
  ok: boolean;
  detail: string;
}

export type Capability = 'webhook' | 'actions' | 'reconcile' | 'health';

/** Where a record of one mapped kind sits in the payloads people have in hand for a system: its webhook
 * bodies and API responses. `approval-hub mappings try` takes such a payload as it is and finds the
 * record the mapping applies to. */
export interface RecordLocation {
  /** Paths tried in order (dots, as in mapping files; '' is the payload itself). A path may lead to a
   * list of records (an API page), in which case each one is a record. */
  at: string[];
  /** Fields every record of the kind carries: what tells the record apart from an envelope around it. */
  has: string[];
}

export interface ConnectorDefinition {
  id: string;
  displayName: string;
  vendor: VendorFacts;
  webhook?: WebhookSpec;
  parse?: (delivery: InboundDelivery, ctx: ParseContext) => ParseResult;
  actions?: ActionDefinition[];
  /** Records changed since the cursor, page by page (reconciliation). Cost grows with changed records. */
  reconcile?: (ctx: ReconcileContext) => AsyncIterable<ReconcilePage>;
  health?: (ctx: ActionContext) => Promise<HealthResult>;
  /** Path of the connector's README, for docs. */
  readme?: string;
  /** The names this connector reads from a connection's `options` (besides the hub's own: systemOfRecord,
   * changeDefaults, rollbackAction). When given, any other name is refused by check and at start. */
  options?: readonly string[];
  /** Option values that cannot work with the rest of hub.yaml (a name of a connection that is not there,
   * a reconcile schedule without what it needs): [option name, reason] each, refused by check and at start. */
  optionsProblems?(settings: { options: Record<string, unknown>; reconcile: boolean }, connections: readonly { id: string; connector: string }[]): Array<[string, string]>;
  /** Record kinds this connector passes through mapping files (`ParseContext.normalize`, `ActionContext.render`);
   * each is mappings/<connector id>/<kind>.yaml unless the connection's `mappings` names another file. */
  mappingKinds?: string[];
  /** By record kind (of `mappingKinds`): where that record sits in this system's webhook bodies and API
   * responses. A kind left out is the payload itself. */
  recordLocations?: Record<string, RecordLocation>;
  /** Builds the connection's authentication when `connection.auth` needs more than a static header.
   * `fetch` is a plain fetch (not the connection's client) so token exchanges do not recurse. */
  auth?: (connection: ConnectionSettings, fetch: typeof globalThis.fetch) => ConnectionAuth;
}

// ---------------------------------------------------------------- helpers for verify()
/** A settings value as text: a string as it is, a Secret revealed; anything else null. */
function revealed(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as Secret).reveal === 'function') return (value as Secret).reveal();
  return null;
}

/** The connection's webhook secrets: `webhook.secret` plus `webhook.secrets` (during a rotation both verify). */
export function webhookSecrets(connection: ConnectionSettings): string[] {
  const webhook = connection.webhook ?? {};
  const list: string[] = [];
  const secret = revealed(webhook.secret);
  if (secret !== null) list.push(secret);
  // Only Secrets count in the list (the configuration refuses plain values there anyway).
  for (const s of Array.isArray(webhook.secrets) ? webhook.secrets : []) {
    const value = typeof s === 'string' ? null : revealed(s);
    if (value !== null) list.push(value);
  }
  return list;
}

/** The delivery's body as a JSON object (`body`: the parsed body, when ingest has it), or null when it is
 * not one: for dedupeKey, eventName and orderingKey, which must not throw on hostile input. */
export function jsonObjectOf(delivery: InboundDelivery, body?: unknown): Record<string, unknown> | null {
  try {
    const parsed = (body ?? JSON.parse(delivery.rawBody.toString('utf8'))) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Checks a "sha256=<hex HMAC-SHA256(secret, raw body)>" header (GitHub's X-Hub-Signature-256, Jira's
 * X-Hub-Signature) in constant time against each secret. */
export function verifyHmacSha256Header(delivery: InboundDelivery, header: string, secrets: string[]): VerifyResult {
  const value = delivery.headers[header];
  if (!value) return { ok: false, reason: `missing ${header} header` };
  if (!value.startsWith('sha256=')) return { ok: false, reason: `${header} is not a sha256= signature` };
  if (secrets.length === 0) return { ok: false, reason: 'no webhook secret is configured for this connection' };
  const offered = Buffer.from(value.slice('sha256='.length), 'hex');
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(delivery.rawBody).digest();
    if (offered.length === expected.length && timingSafeEqual(offered, expected)) return { ok: true };
  }
  return { ok: false, reason: `${header} does not match the body` };
}

/** settingsProblem for a connector that verifies with the webhook secret(s): one of them must be given. */
export function needsWebhookSecret(keys: string[]): string | null {
  return keys.includes('secret') || keys.includes('secrets') ? null : 'give the webhook secret (webhook.secret, or webhook.secrets during a rotation)';
}

/** A setting of the connection's webhook block as text (a secret revealed), or null when it is absent. */
export function webhookSetting(connection: ConnectionSettings, key: string): string | null {
  return revealed(connection.webhook?.[key]);
}

/** Checks a header that carries a shared secret as it is, with no signature (GitLab's X-Gitlab-Token, a
 * header an Azure DevOps service hook is configured to send), in constant time against each secret:
 * both sides are hashed first, so neither their contents nor their lengths show in the timing. */
export function verifySharedSecretHeader(delivery: InboundDelivery, header: string, secrets: string[]): VerifyResult {
  const value = delivery.headers[header];
  if (!value) return { ok: false, reason: `missing ${header} header` };
  if (secrets.length === 0) return { ok: false, reason: 'no webhook secret is configured for this connection' };
  const offered = createHash('sha256').update(value).digest();
  let match = false;
  for (const secret of secrets) match = timingSafeEqual(offered, createHash('sha256').update(secret).digest()) || match;
  return match ? { ok: true } : { ok: false, reason: `${header} does not match the configured secret` };
}

/** Checks HTTP Basic credentials (Authorization: Basic base64(user:password)) in constant time. */
export function verifyBasicAuth(delivery: InboundDelivery, username: string, password: string): VerifyResult {
  const header = delivery.headers.authorization;
  if (!header) return { ok: false, reason: 'missing authorization header' };
  if (!header.startsWith('Basic ')) return { ok: false, reason: 'authorization header is not Basic' };
  const offered = createHash('sha256').update(Buffer.from(header.slice('Basic '.length).trim(), 'base64')).digest();
  const expected = createHash('sha256').update(`${username}:${password}`, 'utf8').digest();
  return timingSafeEqual(offered, expected) ? { ok: true } : { ok: false, reason: 'basic credentials do not match' };
}

/** Declares a connector; the registry validator (connectors/index.ts) checks each at boot. */
export function defineConnector(def: ConnectorDefinition): ConnectorDefinition & { capabilities: Capability[] } {
  const capabilities: Capability[] = [];
  if (def.webhook && def.parse) capabilities.push('webhook');
  if (def.actions && def.actions.length > 0) capabilities.push('actions');
  if (def.reconcile) capabilities.push('reconcile');
  if (def.health) capabilities.push('health');
  return Object.freeze({ ...def, capabilities });
}
