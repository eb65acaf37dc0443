// The store port: everything the hub persists. Two adapters implement it (src/store/sqlite/,
// src/store/mongo/) and both pass the one contract suite in test/contract/store.test.ts.
// Nothing outside an adapter may know which one is in use.
//
// Concurrency model (several hub processes may share one store):
// - changes carry a version; `changes.update` succeeds only if the caller saw the current version.
// - uniqueness (delivery dedupe keys, link identities, job idempotency keys, schedule ticks, audit
//   sequence numbers) is enforced by unique indexes, so a race has exactly one winner.

/** JSON-compatible value: what every record body is made of. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

// ---------------------------------------------------------------- changes
/** A change as stored. `data` is the canonical change (src/core); the other fields are projections
 * of it kept for filtering and listing. */
export interface ChangeRecord {
  id: string;
  version: number; // starts at 1, +1 on every successful update
  state: string;
  tier: string | null;
  team: string | null;
  environment: string | null;
  type: string | null;
  createdAt: string; // ISO-8601 UTC
  updatedAt: string;
  data: JsonObject;
}
export type NewChange = Omit<ChangeRecord, 'version' | 'createdAt' | 'updatedAt'> & { createdAt?: string };
export type ChangePatch = Partial<Pick<ChangeRecord, 'state' | 'tier' | 'team' | 'environment' | 'type' | 'data'>>;

export interface ChangeFilter {
  state?: string;
  tier?: string;
  team?: string;
  since?: string; // updatedAt >= since
}
export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page; null on the last page. */
  next: string | null;
}

export interface ChangeStore {
  /** Throws StoreConflictError if the id exists. */
  create(change: NewChange): Promise<ChangeRecord>;
  get(id: string): Promise<ChangeRecord | null>;
  /** Optimistic concurrency: applies the patch only if the stored version equals `expectedVersion`.
   * Returns the updated record, or null when someone else updated it first (re-read and retry). */
  update(id: string, expectedVersion: number, patch: ChangePatch): Promise<ChangeRecord | null>;
  /** Newest first (updatedAt desc, id desc); stable cursor pagination. */
  list(filter: ChangeFilter, page: { limit: number; cursor?: string | null }): Promise<Page<ChangeRecord>>;
}

// ---------------------------------------------------------------- links
/** A link ties a change to a record in an external system, with the version last seen there. */
export interface LinkRecord {
  changeId: string;
  connectionId: string; // e.g. "servicenow-prod"
  kind: string; // record kind in that system, e.g. "change_request", "issue", "deployment", "approval"
  externalId: string; // e.g. sys_id, issue key, run id
  url: string | null;
  versionSeen: string | null; // e.g. sys_updated_on, Jira `updated`, etag
  data: JsonObject; // connector-specific facts (callback url, environment name, ...)
  updatedAt: string;
}
export interface LinkStore {
  /** Insert or update by identity (connectionId, kind, externalId). A link never moves to another change:
   * upserting an identity that belongs to a different change throws StoreConflictError. */
  upsert(link: Omit<LinkRecord, 'updatedAt'>): Promise<LinkRecord>;
  find(connectionId: string, kind: string, externalId: string): Promise<LinkRecord | null>;
  listForChange(changeId: string): Promise<LinkRecord[]>;
}

// ---------------------------------------------------------------- deliveries
export type DeliveryStatus = 'received' | 'processed' | 'ignored' | 'failed';
/** One inbound webhook, stored before it is acknowledged. */
export interface DeliveryRecord {
  id: string; // hub-assigned
  connectionId: string;
  dedupeKey: string; // sender's delivery id, else a content hash
  event: string | null; // sender's event name when known
  receivedAt: string;
  headers: Record<string, string>; // secrets (signature/authorization) already removed
  body: string; // raw body as received (utf-8)
  status: DeliveryStatus;
  reason: string | null; // why ignored/failed
  processedAt: string | null;
}
export interface DeliveryStore {
  /** Stores the delivery unless (connectionId, dedupeKey) exists. Durable when the promise resolves. */
  insert(d: Omit<DeliveryRecord, 'status' | 'reason' | 'processedAt'>): Promise<{ inserted: boolean; delivery: DeliveryRecord }>;
  /** Same as insert for many at once, in one durable commit (for batching ingest). */
  insertMany(ds: Omit<DeliveryRecord, 'status' | 'reason' | 'processedAt'>[]): Promise<{ inserted: boolean; delivery: DeliveryRecord }[]>;
  get(id: string): Promise<DeliveryRecord | null>;
  /** The ids of this connection's stored deliveries with these dedupe keys, by key (a key not stored is
   * not in the map). One query for a whole batch of webhooks. */
  idsByDedupeKey(connectionId: string, dedupeKeys: string[]): Promise<Map<string, string>>;
  setStatus(id: string, status: DeliveryStatus, reason?: string | null): Promise<void>;
  list(filter: { connectionId?: string; status?: DeliveryStatus }, page: { limit: number; cursor?: string | null }): Promise<Page<DeliveryRecord>>;
  countByStatus(): Promise<Record<DeliveryStatus, number>>;
}

// ---------------------------------------------------------------- jobs (outbound action ledger)
/** The ledger of outbound actions, keyed by idempotency key (change, step, target, intent), so that a
 * retry after a crash never performs an action twice. */
export type JobStatus = 'pending' | 'running' | 'done' | 'failed';
export interface JobRecord {
  key: string; // idempotency key
  changeId: string | null;
  connectionId: string;
  intent: string; // e.g. "github.answer-gate"
  status: JobStatus;
  attempts: number;
  result: JsonObject | null; // what the target answered (ids created, ...)
  error: string | null;
  createdAt: string;
  updatedAt: string;
}
export interface JobStore {
  /** Records the job if new; returns the existing record otherwise (never resets it). */
  ensure(job: { key: string; changeId: string | null; connectionId: string; intent: string }): Promise<{ created: boolean; job: JobRecord }>;
  get(key: string): Promise<JobRecord | null>;
  /** pending|failed -> running, attempts+1; returns null if it is done or already running. */
  start(key: string): Promise<JobRecord | null>;
  finish(key: string, result: JsonObject): Promise<void>;
  fail(key: string, error: string, final: boolean): Promise<void>; // final=false puts it back to pending
  listForChange(changeId: string): Promise<JobRecord[]>;
}

// ---------------------------------------------------------------- conflicts
export type ConflictStatus = 'open' | 'resolved';
/** Two tools disagree; both versions are kept until a rule or a person decides. */
export interface ConflictRecord {
  id: string;
  changeId: string;
  kind: string; // e.g. "decision"
  status: ConflictStatus;
  versions: JsonObject[]; // each side's view: { connectionId, value, seenAt, ... }
  resolution: JsonObject | null; // { outcome, by, rule|rationale, at }
  createdAt: string;
  resolvedAt: string | null;
}
export interface ConflictStore {
  create(c: Omit<ConflictRecord, 'status' | 'resolution' | 'createdAt' | 'resolvedAt'>): Promise<ConflictRecord>;
  get(id: string): Promise<ConflictRecord | null>;
  list(filter: { status?: ConflictStatus; changeId?: string }, page: { limit: number; cursor?: string | null }): Promise<Page<ConflictRecord>>;
  /** open -> resolved, once; returns null if it was already resolved. */
  resolve(id: string, resolution: JsonObject): Promise<ConflictRecord | null>;
}

// ---------------------------------------------------------------- audit (transitions)
/** One audit entry. `seq`, `prevHash` and `hash` are assigned by the store on append. */
export interface TransitionInput {
  changeId: string | null;
  action: string; // e.g. "state", "decision", "override", "link", "drift-repaired", "escalation"
  actor: string; // person or "system" / connector id
  sourceTool: string; // "hub", "servicenow", "github", ...
  at: string; // ISO-8601 UTC
  before: Json;
  after: Json;
  rationale: string | null;
  correlation: string | null; // delivery id or request id
}
export interface Transition extends TransitionInput {
  seq: number; // 1, 2, 3, ... with no gaps
  prevHash: string; // hex; 64 zeros for seq 1
  hash: string; // hex SHA-256 over prevHash and the canonical encoding of the entry (src/audit/chain.ts)
}
export interface AuditStore {
  /** Appends one entry to the single chain. Safe under concurrent appends from several processes:
   * the chain never forks (each seq is taken once). */
  append(entry: TransitionInput): Promise<Transition>;
  /** Entries in seq order, from `afterSeq` (exclusive), as an async stream (verify reads millions). */
  scan(afterSeq?: number): AsyncIterable<Transition>;
  listForChange(changeId: string): Promise<Transition[]>;
  head(): Promise<Transition | null>;
}

// ---------------------------------------------------------------- API tokens
export type Role = 'viewer' | 'approver' | 'admin' | 'auditor' | 'integration';
export interface TokenRecord {
  id: string;
  name: string;
  hash: string; // SHA-256 hex of the secret; the secret itself is never stored
  roles: Role[];
  actor: string; // the person or system the token acts as
  createdAt: string;
  revokedAt: string | null;
}
export interface TokenStore {
  create(t: Omit<TokenRecord, 'createdAt' | 'revokedAt'>): Promise<TokenRecord>;
  findByHash(hash: string): Promise<TokenRecord | null>;
  revoke(idOrName: string): Promise<boolean>;
  list(): Promise<TokenRecord[]>;
}

// ---------------------------------------------------------------- cursors and schedule ticks
export interface CursorStore {
  /** Reconciliation cursors (e.g. last sys_updated_on seen), per connection and record kind. */
  get(connectionId: string, name: string): Promise<string | null>;
  set(connectionId: string, name: string, value: string): Promise<void>;
}
export interface TickStore {
  /** Claims one schedule tick (e.g. "reconcile:servicenow-prod" at "2026-11-24T14:05:00Z").
   * Exactly one caller across all processes gets true. */
  claim(schedule: string, tick: string, owner: string): Promise<boolean>;
}

// ---------------------------------------------------------------- the store
export interface Store {
  readonly kind: 'sqlite' | 'mongodb';
  changes: ChangeStore;
  links: LinkStore;
  deliveries: DeliveryStore;
  jobs: JobStore;
  conflicts: ConflictStore;
  audit: AuditStore;
  tokens: TokenStore;
  cursors: CursorStore;
  ticks: TickStore;
  /** Creates tables/collections and indexes; idempotent; called once at start. */
  migrate(): Promise<void>;
  /** Cheap reachability check for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A unique constraint was violated (duplicate id, a link owned by another change). */
export class StoreConflictError extends Error {
  override name = 'StoreConflictError';
}

/** A caller passed something the store cannot use (a cursor that is not one of ours, a bad limit).
 * The HTTP layer answers 400 with this message. */
export class StoreInputError extends Error {
  override name = 'StoreInputError';
}

// Page cursors are opaque to callers; both adapters encode the sort key of the last item the same way.
/** Encodes the sort key of the last item of a page (e.g. [updatedAt, id]) as a base64url cursor. */
export function encodeCursor(key: string[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}
/** Decodes a cursor made by `encodeCursor` with `parts` strings; throws StoreInputError otherwise. */
export function decodeCursor(cursor: string, parts: number): string[] {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new StoreInputError('cursor: not a cursor this hub issued (pass back the `next` value of the previous page)');
  }
  if (!Array.isArray(key) || key.length !== parts || !key.every((k) => typeof k === 'string')) {
    throw new StoreInputError('cursor: not a cursor this hub issued (pass back the `next` value of the previous page)');
  }
  return key as string[];
}
/** Page sizes are 1..1000; anything else is a caller error. */
export function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new StoreInputError(`limit: must be an integer from 1 to 1000, got ${limit}`);
  return limit;
}
