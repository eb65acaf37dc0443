// The embedded queue: one SQLite file (node:sqlite), no server. Several hub processes may share the file:
// every state change runs inside BEGIN IMMEDIATE, which takes SQLite's single write lock up front, so
// two workers can never claim the same row, and busy_timeout makes the loser wait instead of failing.
//
// A claimed job carries a lease (lease_until + a random lease_token). The worker renews the lease while
// the handler runs; if the process dies, the lease expires and any worker claims the job again
// (at-least-once). Finishing a job is conditional on the token, so a worker that lost its lease cannot
// delete or re-schedule a job that someone else now owns.
//
// Ordering per key: within a kind, only the earliest unfinished job of a key is "waiting" (claimable);
// later ones are inserted as "held". When the head finishes (deleted) or is dead-lettered, the same
// transaction promotes the next held job. So a claim never has to look at a key's backlog, and a
// retrying head (waiting, run_at in the future) keeps everything behind it held.
//
// Consumers poll, backing off to tuning.pollMs when idle. Within one instance an enqueue wakes its own
// consumers at once; other instances on the same file in this process (the hub's queue worker thread
// next to its HTTP thread) hear about claimable jobs over a BroadcastChannel named after the file, so a
// webhook's delivery job does not wait out their idle backoff. Other processes still rely on polling.
import { randomUUID } from 'node:crypto';
import { mkdirSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { Logger } from '../../sdk/index.ts';
import { PermanentError, type DeadLetter, type Handler, type Job, type JobInput, type JobKind, type KindDepth, type Queue } from '../port.ts';
import { checkJobInput, checkKind, emptyDepth } from '../job-input.ts';
import { decideFailure, errorText } from '../retry-policy.ts';
import { checkpointInBackground } from '../../sqlite/checkpoints.ts';
import { groupCommit, type GroupCommit } from '../../sqlite/group-commit.ts';
import { immediateTransaction, statementCache } from '../../sqlite/transaction.ts';
import { writeLockFor, type WriteLock } from '../../sqlite/write-lock.ts';
import type { QueueTuning } from '../tuning.ts';
import { processAlive } from '../../process-alive.ts';

interface Row {
  seq: number;
  id: string;
  kind: JobKind;
  key: string | null;
  payload: string;
  state: 'held' | 'waiting' | 'running' | 'dead';
  attempt: number;
  max_attempts: number;
  run_at: number;
  lease_until: number | null;
  lease_token: string | null;
  lease_owner: number | null;
  enqueued_at: string;
  error: string | null;
  failed_at: string | null;
}

const schema = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, -- enqueue order: the next held job of a key is the lowest
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  key TEXT,
  payload TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('held', 'waiting', 'running', 'dead')),
  attempt INTEGER NOT NULL DEFAULT 0,  -- counted runs so far
  max_attempts INTEGER NOT NULL,
  run_at INTEGER NOT NULL,             -- epoch ms: not before (delay, backoff)
  lease_until INTEGER,
  lease_token TEXT,
  lease_owner INTEGER,                 -- pid of the process holding the lease (this machine's)
  enqueued_at TEXT NOT NULL,
  error TEXT,
  failed_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (kind, state, run_at, seq);
-- With state in the index, "is anything of this key waiting or running" and "the key's next held job"
-- are point lookups; without it they walk the key's whole held backlog, once for every finished job.
DROP INDEX IF EXISTS jobs_by_key;
CREATE INDEX IF NOT EXISTS jobs_by_key_state ON jobs (kind, key, state, seq) WHERE key IS NOT NULL;
`;

// How many jobs there are of each kind and state, kept by triggers in the transaction that changes them.
// depth() is asked every second by ingest (is the backlog past ingest.maxBacklog?) and by every /readyz:
// counting the jobs instead took ~4 ms at 30 000 and ~11 ms at 100 000, on the HTTP thread, where every
// webhook arriving meanwhile waited for it.
const countTriggers = `
CREATE TRIGGER jobs_counted_insert AFTER INSERT ON jobs BEGIN
  INSERT INTO job_counts (kind, state, n) VALUES (NEW.kind, NEW.state, 1) ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER jobs_counted_delete AFTER DELETE ON jobs BEGIN
  UPDATE job_counts SET n = n - 1 WHERE kind = OLD.kind AND state = OLD.state;
END;
CREATE TRIGGER jobs_counted_update AFTER UPDATE OF kind, state ON jobs WHEN OLD.kind IS NOT NEW.kind OR OLD.state IS NOT NEW.state BEGIN
  UPDATE job_counts SET n = n - 1 WHERE kind = OLD.kind AND state = OLD.state;
  INSERT INTO job_counts (kind, state, n) VALUES (NEW.kind, NEW.state, 1) ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
END;
`;

/** Adds the counts to a queue file made without them: counted once, then kept by the triggers. Under
 * the write lock, so a job changed meanwhile by another connection is counted exactly once. */
function ensureJobCounts(db: DatabaseSync, lock: WriteLock): void {
  const hasTriggers = () => db.prepare(`SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'jobs_counted_%'`).get()!.n === 3;
  if (hasTriggers()) return;
  immediateTransaction(db, lock)(() => {
    if (hasTriggers()) return;
    db.exec(`
      DROP TRIGGER IF EXISTS jobs_counted_insert; DROP TRIGGER IF EXISTS jobs_counted_delete; DROP TRIGGER IF EXISTS jobs_counted_update;
      CREATE TABLE IF NOT EXISTS job_counts (kind TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (kind, state)) WITHOUT ROWID;
      DELETE FROM job_counts;
      INSERT INTO job_counts (kind, state, n) SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state;
      ${countTriggers}`);
  });
}

// Due jobs, oldest due first. Held jobs and dead letters are not 'waiting', so they are never claimed.
const claimSql = `
UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_until = :until, lease_token = :token, lease_owner = :owner
WHERE seq IN (
  SELECT seq FROM jobs
  WHERE kind = :kind AND state = 'waiting' AND run_at <= :now
  ORDER BY run_at, seq
  LIMIT :limit)
RETURNING *`;

const minPollMs = 5;
/** How often a consumer looks for leases held by processes that have gone. */
const ownerCheckMs = 2_000;

interface Consumer {
  kind: JobKind;
  handler: Handler<unknown>;
  concurrency: number;
  running: Map<number, { token: string; done: Promise<void> }>;
  timer: NodeJS.Timeout | null;
  idleMs: number;
}

export interface EmbeddedQueueOptions {
  path: string;
  log: Logger;
  tuning: QueueTuning;
  /** Checkpoint the WAL on a worker thread (src/sqlite/checkpoints.ts). */
  backgroundCheckpoints?: boolean;
}

export function openEmbeddedQueue(opts: EmbeddedQueueOptions): Queue {
  let db: DatabaseSync;
  try {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    db = new DatabaseSync(opts.path);
  } catch (err) {
    throw new Error(`queue: cannot open the embedded queue file ${opts.path}: ${errorText(err)}`);
  }
  db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;');
  db.exec(schema);
  // Files made before leases named their process get the column (NULL: such a lease just runs out).
  const columns = db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[];
  if (!columns.some((c) => c.name === 'lease_owner')) db.exec('ALTER TABLE jobs ADD COLUMN lease_owner INTEGER');
  const lock = writeLockFor(opts.path);
  ensureJobCounts(db, lock);
  const stopCheckpoints = opts.backgroundCheckpoints ? checkpointInBackground(opts.path, opts.log) : async () => {};
  const wakeChannel = opts.path === ':memory:' ? null : new BroadcastChannel(`approval-hub:queue:${absolutePath(opts.path)}`);
  return new EmbeddedQueue(db, opts.log, opts.tuning, stopCheckpoints, wakeChannel, lock);
}

/** One name per file however it was spelled (relative, through a symlink); the file exists once opened. */
function absolutePath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

class EmbeddedQueue implements Queue {
  readonly kind = 'embedded' as const;
  readonly #db: DatabaseSync;
  readonly #log: Logger;
  readonly #tuning: QueueTuning;
  readonly #consumers = new Map<JobKind, Consumer>();
  #heartbeat: NodeJS.Timeout | null = null;
  #closing = false;
  #closed: Promise<void> | null = null;
  /** A statement prepared once for this connection. */
  readonly #sql: (text: string) => StatementSync;
  /** BEGIN IMMEDIATE … COMMIT under the file's write lock. */
  readonly #write: <T>(work: () => T) => T;
  /** Enqueues and job results share commits (src/sqlite/group-commit.ts); claims and renewals commit at once. */
  readonly #commits: GroupCommit;

  readonly #stopCheckpoints: () => Promise<void>;
  /** Tells the other instances on this file in this process which kinds have claimable jobs. */
  readonly #wakeChannel: BroadcastChannel | null;
  /** Kinds to announce on the next turn of the event loop: one message however many commits. */
  readonly #unannounced = new Set<JobKind>();

  readonly #ownersCheckedAt = new Map<JobKind, number>();

  constructor(db: DatabaseSync, log: Logger, tuning: QueueTuning, stopCheckpoints: () => Promise<void>, wakeChannel: BroadcastChannel | null, lock: WriteLock) {
    this.#sql = statementCache(db);
    this.#write = immediateTransaction(db, lock);
    this.#stopCheckpoints = stopCheckpoints;
    this.#db = db;
    this.#log = log;
    this.#tuning = tuning;
    this.#wakeChannel = wakeChannel;
    this.#commits = groupCommit({ sql: db, transaction: this.#write });
    if (wakeChannel) {
      // The channel never delivers to the instance that posted, so its own wakes stay direct.
      wakeChannel.onmessage = (event) => {
        const kinds: unknown = (event as MessageEvent).data;
        if (Array.isArray(kinds)) for (const kind of kinds) if (typeof kind === 'string') this.#wake(kind as JobKind);
      };
      wakeChannel.unref(); // a quiet queue must not keep a process or worker alive
    }
  }

  /** Call only after the commit that made jobs of this kind claimable. */
  #announce(kind: JobKind): void {
    if (!this.#wakeChannel) return;
    if (this.#unannounced.size === 0) setImmediate(() => this.#postAnnouncements());
    this.#unannounced.add(kind);
  }

  #postAnnouncements(): void {
    if (this.#unannounced.size === 0 || !this.#wakeChannel) return;
    const kinds = [...this.#unannounced];
    this.#unannounced.clear();
    try {
      this.#wakeChannel.postMessage(kinds);
    } catch (err) {
      // Closed meanwhile: the other instances find the jobs on their next poll.
      this.#log.debug({ err: errorText(err) }, 'queue: could not announce claimable jobs');
    }
  }

  #assertOpen(): void {
    if (this.#closing) throw new Error('queue: the embedded queue is closed');
  }

  async enqueue<P>(input: JobInput<P>): Promise<string> {
    this.#assertOpen();
    const job = checkJobInput(input);
    const id = job.id ?? randomUUID();
    const added = await this.#commits.write(() => {
      // Dedupe while unfinished. A dead letter is finished: enqueueing its id again replaces it.
      if (job.id) this.#sql(`DELETE FROM jobs WHERE id = ? AND state = 'dead'`).run(id);
      return this.#insert({ id, kind: job.kind, key: job.key, payload: job.payloadJson, maxAttempts: job.maxAttempts, runAt: Date.now() + job.delayMs, enqueuedAt: new Date().toISOString() });
    });
    if (added) {
      this.#wake(job.kind);
      this.#announce(job.kind);
    }
    return id;
  }

  /** Returns false when an unfinished job with that id exists (nothing is added). A keyed job behind
   * an unfinished one of the same key is held. */
  #insert(j: { id: string; kind: JobKind; key: string | null; payload: string; maxAttempts: number; runAt: number; enqueuedAt: string }): boolean {
    const behind = j.key !== null && this.#sql(`SELECT 1 FROM jobs WHERE kind = ? AND key = ? AND state IN ('held', 'waiting', 'running') LIMIT 1`).get(j.kind, j.key) !== undefined;
    const r = this.#sql(`INSERT INTO jobs (id, kind, key, payload, state, attempt, max_attempts, run_at, enqueued_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
      .run(j.id, j.kind, j.key, j.payload, behind ? 'held' : 'waiting', j.maxAttempts, j.runAt, j.enqueuedAt);
    return Number(r.changes) === 1;
  }

  /** After a key's head finished or died: the next held job of that key becomes waiting. Returns
   * whether one did. */
  #advance(kind: JobKind, key: string | null): boolean {
    if (key === null) return false;
    const r = this.#sql(`UPDATE jobs SET state = 'waiting'
               WHERE seq = (SELECT seq FROM jobs WHERE kind = ? AND key = ? AND state = 'held' ORDER BY seq LIMIT 1)
                 AND NOT EXISTS (SELECT 1 FROM jobs WHERE kind = ? AND key = ? AND state IN ('waiting', 'running'))`)
      .run(kind, key, kind, key);
    return Number(r.changes) === 1;
  }

  process<P>(kind: JobKind, handler: Handler<P>, opts?: { concurrency?: number }): void {
    this.#assertOpen();
    checkKind(kind);
    if (this.#consumers.has(kind)) throw new Error(`queue: ${kind} jobs already have a handler in this process`);
    const concurrency = opts?.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`queue: concurrency for ${kind} must be an integer ≥ 1, got ${String(opts?.concurrency)}`);
    this.#consumers.set(kind, { kind, handler: handler as Handler<unknown>, concurrency, running: new Map(), timer: null, idleMs: minPollMs });
    // Renew the leases of running jobs well before they expire (a third of the lease).
    this.#heartbeat ??= setInterval(() => this.#renewLeases(), Math.max(1, Math.floor(this.#tuning.leaseMs / 3)));
    this.#wake(kind);
  }

  #wake(kind: JobKind, afterMs = 0): void {
    const c = this.#consumers.get(kind);
    if (!c || this.#closing) return;
    if (afterMs === 0) c.idleMs = minPollMs;
    if (c.timer) clearTimeout(c.timer);
    c.timer = setTimeout(() => {
      c.timer = null;
      this.#poll(c);
    }, afterMs);
  }

  #poll(c: Consumer): void {
    if (this.#closing) return;
    const free = c.concurrency - c.running.size;
    if (free <= 0) return; // a finishing job wakes the consumer
    let rows: Row[];
    try {
      rows = this.#claim(c.kind, free);
    } catch (err) {
      this.#log.warn({ kind: c.kind, err: errorText(err) }, 'queue: claiming jobs failed; retrying');
      this.#wake(c.kind, this.#tuning.pollMs);
      return;
    }
    for (const row of rows) this.#run(c, row);
    if (rows.length === free) {
      this.#wake(c.kind); // there may be more; a free slot will poll again anyway
    } else if (rows.length > 0) {
      this.#wake(c.kind, minPollMs);
    } else {
      // Idle: back off from a few ms up to pollMs, so a busy queue reacts fast and an idle one is quiet.
      c.idleMs = Math.min(this.#tuning.pollMs, c.idleMs * 2);
      const afterMs = c.idleMs;
      if (c.timer) clearTimeout(c.timer);
      c.timer = setTimeout(() => {
        c.timer = null;
        this.#poll(c);
      }, afterMs);
    }
  }

  /** Ends, as if they had run out, the leases held by processes that no longer exist. The file is on this
   * machine, so a lease can name its process: a hub killed with -9 and started again takes up what it was
   * running at once, instead of leaving those jobs (and every later job of their keys, e.g. a change's
   * next callbacks) waiting out the 30 s lease. Looked at every few seconds, not at every claim. */
  #releaseLeasesOfDeadProcesses(kind: JobKind): void {
    const now = Date.now();
    if (now < (this.#ownersCheckedAt.get(kind) ?? 0) + ownerCheckMs) return;
    this.#ownersCheckedAt.set(kind, now);
    const owners = this.#sql(`SELECT DISTINCT lease_owner AS pid FROM jobs WHERE kind = ? AND state = 'running' AND lease_owner IS NOT NULL AND lease_owner != ?`)
      .all(kind, process.pid) as { pid: number }[];
    for (const { pid } of owners) {
      if (processAlive(Number(pid))) continue;
      this.#sql(`UPDATE jobs SET lease_until = 0 WHERE kind = ? AND state = 'running' AND lease_owner = ?`).run(kind, pid);
    }
  }

  #claim(kind: JobKind, limit: number): Row[] {
    const now = Date.now();
    const token = randomUUID();
    return this.#write(() => {
      this.#releaseLeasesOfDeadProcesses(kind);
      // A job whose lease expired (its worker died) is due again; after its last allowed attempt it is dead.
      const died = this.#sql(`UPDATE jobs SET state = 'dead', error = 'the worker running the job stopped (lease expired) on the last attempt', failed_at = ?, lease_until = NULL, lease_token = NULL
                  WHERE kind = ? AND state = 'running' AND lease_until < ? AND attempt >= max_attempts RETURNING key`)
        .all(new Date(now).toISOString(), kind, now) as { key: string | null }[];
      for (const d of died) this.#advance(kind, d.key);
      this.#sql(`UPDATE jobs SET state = 'waiting', lease_until = NULL, lease_token = NULL WHERE kind = ? AND state = 'running' AND lease_until < ?`).run(kind, now);
      const rows = this.#sql(claimSql).all({ kind, now, until: now + this.#tuning.leaseMs, token, limit, owner: process.pid } as Record<string, SQLInputValue>) as unknown as Row[];
      return rows.sort((a, b) => a.seq - b.seq);
    });
  }

  #run(c: Consumer, row: Row): void {
    const token = row.lease_token!;
    let promoted = false; // the next held job of the key became claimable
    const done = (async () => {
      try {
        let payload: unknown;
        try {
          payload = JSON.parse(row.payload);
        } catch (err) {
          throw new PermanentError(`the stored payload is not valid JSON: ${errorText(err)}`); // edited by hand?
        }
        const job: Job<unknown> = { id: row.id, kind: row.kind, key: row.key, payload, attempt: row.attempt, maxAttempts: row.max_attempts, enqueuedAt: row.enqueued_at };
        await Promise.resolve().then(() => c.handler(job)); // a handler that throws synchronously is a failed job too
        const recorded = await this.#finish(row.seq, token, () => {
          const r = this.#sql('DELETE FROM jobs WHERE seq = ? AND lease_token = ?').run(row.seq, token);
          if (Number(r.changes) === 1) promoted = this.#advance(row.kind, row.key);
          return r;
        });
        if (recorded && promoted) this.#announce(row.kind);
      } catch (err) {
        const outcome = decideFailure(err, row.attempt, row.max_attempts, this.#tuning);
        if (outcome.action === 'dead') this.#log.warn({ kind: row.kind, id: row.id, attempt: row.attempt, error: outcome.error }, 'queue: job dead-lettered');
        const recorded = await this.#finish(row.seq, token, () => {
          if (outcome.action === 'dead') {
            const r = this.#sql(`UPDATE jobs SET state = 'dead', error = ?, failed_at = ?, lease_until = NULL, lease_token = NULL WHERE seq = ? AND lease_token = ?`)
              .run(outcome.error, new Date().toISOString(), row.seq, token);
            if (Number(r.changes) === 1) promoted = this.#advance(row.kind, row.key); // a dead letter releases its key
            return r;
          }
          const spent = outcome.action === 'later' ? 1 : 0; // a RetryLaterError does not use up the attempt
          return this.#sql(`UPDATE jobs SET state = 'waiting', attempt = attempt - ?, run_at = ?, error = ?, lease_until = NULL, lease_token = NULL WHERE seq = ? AND lease_token = ?`)
            .run(spent, Date.now() + outcome.delayMs, outcome.error, row.seq, token);
        });
        if (recorded && promoted) this.#announce(row.kind);
      } finally {
        c.running.delete(row.seq);
        this.#wake(c.kind);
      }
    })();
    c.running.set(row.seq, { token, done });
  }

  /** Returns whether the result was committed. */
  async #finish(seq: number, token: string, change: () => { changes: number | bigint }): Promise<boolean> {
    try {
      const r = await this.#commits.write(change);
      if (Number(r.changes) === 0) this.#log.warn({ seq }, 'queue: a job outlived its lease and was taken over by another worker; its result here is dropped');
      return true;
    } catch (err) {
      // The lease will expire and the job runs again: at-least-once, never lost.
      this.#log.error({ seq, token, err: errorText(err) }, 'queue: recording a job result failed');
      return false;
    }
  }

  #renewLeases(): void {
    const until = Date.now() + this.#tuning.leaseMs;
    const leases = [...this.#consumers.values()].flatMap((c) => [...c.running.entries()].map(([seq, r]) => ({ seq, token: r.token })));
    if (leases.length === 0) return;
    try {
      this.#write(() => {
        const stmt = this.#sql('UPDATE jobs SET lease_until = ? WHERE seq = ? AND lease_token = ?');
        for (const l of leases) stmt.run(until, l.seq, l.token);
      });
    } catch (err) {
      this.#log.warn({ err: errorText(err) }, 'queue: renewing job leases failed');
    }
  }

  async depth(): Promise<Record<JobKind, KindDepth>> {
    const out = emptyDepth();
    const rows = this.#sql('SELECT kind, state, n FROM job_counts').all() as unknown as { kind: JobKind; state: Row['state']; n: number }[];
    for (const r of rows) {
      const d = out[r.kind];
      if (d) d[r.state === 'held' ? 'waiting' : r.state] += Number(r.n);
    }
    return out;
  }

  async deadLetters(kind?: JobKind): Promise<DeadLetter[]> {
    if (kind !== undefined) checkKind(kind);
    const rows = (kind
      ? this.#sql(`SELECT * FROM jobs WHERE state = 'dead' AND kind = ? ORDER BY seq`).all(kind)
      : this.#sql(`SELECT * FROM jobs WHERE state = 'dead' ORDER BY seq`).all()) as unknown as Row[];
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      key: r.key,
      payload: parseOr(r.payload),
      attempts: r.attempt,
      error: r.error ?? '',
      failedAt: r.failed_at ?? '',
    }));
  }

  async replay(ids?: string[]): Promise<number> {
    this.#assertOpen();
    const replayed = this.#write(() => {
      const dead = this.#sql(`SELECT * FROM jobs WHERE state = 'dead' ORDER BY seq`).all() as unknown as Row[];
      const wanted = ids ? new Set(ids) : null;
      const chosen = dead.filter((r) => !wanted || wanted.has(r.id));
      for (const r of chosen) {
        // Delete and insert rather than update: the replayed job takes a new place at the end of its
        // key's order, behind jobs enqueued while it was dead.
        this.#sql('DELETE FROM jobs WHERE seq = ?').run(r.seq);
        this.#insert({ id: r.id, kind: r.kind, key: r.key, payload: r.payload, maxAttempts: r.max_attempts, runAt: Date.now(), enqueuedAt: r.enqueued_at });
      }
      return chosen;
    });
    for (const kind of new Set(replayed.map((r) => r.kind))) {
      this.#wake(kind);
      this.#announce(kind);
    }
    return replayed.length;
  }

  async ping(): Promise<void> {
    this.#assertOpen();
    this.#sql('SELECT 1').get();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      for (const c of this.#consumers.values()) if (c.timer) clearTimeout(c.timer);
      // Graceful: running handlers finish (heartbeats keep their leases) and record their results.
      await Promise.all([...this.#consumers.values()].flatMap((c) => [...c.running.values()].map((r) => r.done)));
      if (this.#heartbeat) clearInterval(this.#heartbeat);
      this.#commits.flush(); // enqueues accepted before close are committed, not dropped
      await this.#stopCheckpoints();
      this.#db.close();
      this.#postAnnouncements(); // those last commits still wake the other instances
      this.#wakeChannel?.close();
    })();
    return this.#closed;
  }
}

/** A dead letter's payload as stored, or its raw text if it is not JSON, so it can still be listed. */
function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
