// Turns between this process's threads for one SQLite file's write lock. SQLite's own lock is what keeps
// writers apart (and still does between processes), but a writer that finds it taken sleeps in steps of
// 1, 2, 5, 10 … 100 ms (busy_timeout) before trying again: with the webhook writer thread and the
// processing thread committing hundreds of times a second to the same files, those sleeps, not the work,
// set how late a 202 goes out. Waiting on shared memory instead, a writer wakes the moment the other
// thread commits.
//
// The lock's memory is shared through worker_threads' environment data: the thread that opens a file
// first (the HTTP thread opens the store and queue before it starts the others) registers it, and every
// thread it starts afterwards inherits it.
import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads';
import { resolve } from 'node:path';
import { sharedLock } from '../shared-lock.ts';

export interface WriteLock {
  /** Runs `fn` (a BEGIN IMMEDIATE … COMMIT) while no other thread of this process writes the file. */
  run<T>(fn: () => T): T;
}

/** Longer than any transaction runs: past it the holder is taken to be gone (a thread stopped inside a
 * transaction) and SQLite's own lock decides, as between processes. */
const patienceMs = 5_000;

const unlocked: WriteLock = { run: (fn) => fn() };

export function writeLockFor(path: string): WriteLock {
  if (path === ':memory:') return unlocked;
  const key = `approval-hub:sqlite-write-lock:${resolve(path)}`;
  let memory = getEnvironmentData(key) as SharedArrayBuffer | undefined;
  if (!(memory instanceof SharedArrayBuffer)) {
    memory = new SharedArrayBuffer(4);
    setEnvironmentData(key, memory);
  }
  const locked = sharedLock(new Int32Array(memory), 0, patienceMs);
  let depth = 0; // re-entrant within a thread: a transaction inside a transaction is SQLite's error to report
  return {
    run(fn) {
      if (depth > 0) return fn();
      return locked(() => {
        depth++;
        try {
          return fn();
        } finally {
          depth--;
        }
      });
    },
  };
}
