// What every node:sqlite connection of the hub (the store's, the embedded queue's) does the same way:
// statements prepared once, and write transactions taken up front under this process's lock for the file.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { WriteLock } from './write-lock.ts';

/** BEGIN IMMEDIATE … COMMIT under `lock` (src/sqlite/write-lock.ts), ROLLBACK if `fn` throws. Taking
 * SQLite's write lock at BEGIN, not at the first write, means two writers never deadlock on an upgrade. */
export function immediateTransaction(sql: DatabaseSync, lock: WriteLock): <T>(fn: () => T) => T {
  return (fn) =>
    lock.run(() => {
      sql.exec('BEGIN IMMEDIATE');
      try {
        const out = fn();
        sql.exec('COMMIT');
        return out;
      } catch (err) {
        // SQLite may have rolled back already (an I/O error): the original error is the one to report.
        if (sql.isTransaction) sql.exec('ROLLBACK');
        throw err;
      }
    });
}

/** Statements prepared once per connection: preparing costs ~35 µs, running a point query ~1 µs, and
 * processing one change runs dozens of them. The texts are the code's own, a few per filter combination;
 * the bound only guards against a future caller that builds text from data. */
export function statementCache(sql: DatabaseSync, max = 500): (text: string) => StatementSync {
  const statements = new Map<string, StatementSync>();
  return (text) => {
    let s = statements.get(text);
    if (!s) {
      if (statements.size >= max) statements.clear();
      s = sql.prepare(text);
      statements.set(text, s);
    }
    return s;
  };
}
