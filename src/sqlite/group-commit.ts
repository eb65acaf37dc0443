// Group commit for a node:sqlite connection, shared by the SQLite store and the embedded queue. A commit
// (a WAL append, and an fsync when it must be durable) costs far more than the point writes inside it:
// processing one change makes some twenty store writes and a burst of webhooks as many enqueues, so
// writes requested in the same turn of the event loop run in one transaction at setImmediate. Each runs
// inside a savepoint so a failing one is rolled back alone (its promise rejects, the others commit), and
// every promise settles only after the COMMIT, so nothing is reported done that a crash could undo.
import type { DatabaseSync } from 'node:sqlite';

export interface GroupCommit {
  /** Runs `fn` in the next shared transaction; settles after its COMMIT. `durable`: see `durably`. */
  write<T>(fn: () => T, opts?: { durable?: boolean }): Promise<T>;
  /** Commits the writes still waiting for their turn now (before closing the connection). */
  flush(): void;
}

export interface GroupCommitOptions {
  sql: DatabaseSync;
  /** BEGIN IMMEDIATE … COMMIT (ROLLBACK on throw), under the connection's write lock. */
  transaction<T>(fn: () => T): T;
  /** Wraps a commit that holds at least one `durable` write, to make it reach the disk; without it
   * `durable` changes nothing. */
  durably?: (commit: () => void) => void;
}

interface PendingWrite {
  fn: () => unknown;
  durable: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export function groupCommit({ sql, transaction, durably }: GroupCommitOptions): GroupCommit {
  let pending: PendingWrite[] = [];

  function runAll(batch: PendingWrite[]): Outcome[] {
    if (batch.length === 1) {
      // Alone in its transaction, a failing write is rolled back with it: no savepoint needed.
      return [{ ok: true, value: batch[0]!.fn() }];
    }
    return batch.map((w): Outcome => {
      sql.exec('SAVEPOINT write');
      try {
        const value = w.fn();
        sql.exec('RELEASE write');
        return { ok: true, value };
      } catch (error) {
        sql.exec('ROLLBACK TO write');
        sql.exec('RELEASE write');
        return { ok: false, error };
      }
    });
  }

  function flush(): void {
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    let outcomes: Outcome[] = [];
    const commit = (): void => {
      outcomes = transaction(() => runAll(batch));
    };
    try {
      if (durably && batch.some((w) => w.durable)) durably(commit);
      else commit();
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const o = outcomes[i]!;
      if (o.ok) w.resolve(o.value);
      else w.reject(o.error);
    });
  }

  return {
    write<T>(fn: () => T, opts?: { durable?: boolean }): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (pending.length === 0) setImmediate(flush);
        pending.push({ fn, durable: opts?.durable === true, resolve: resolve as (v: unknown) => void, reject });
      });
    },
    flush,
  };
}
