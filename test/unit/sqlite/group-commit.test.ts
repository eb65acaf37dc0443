// The group commit shared by the SQLite store and the embedded queue (src/sqlite/group-commit.ts), on a
// real file: a second, read-only connection sees only what has been committed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { groupCommit } from '../../../src/sqlite/group-commit.ts';

let dir: string;
let sql: DatabaseSync;
let reader: DatabaseSync;
let commits: number;

function transaction<T>(fn: () => T): T {
  sql.exec('BEGIN IMMEDIATE');
  try {
    const out = fn();
    sql.exec('COMMIT');
    commits++;
    return out;
  } catch (err) {
    if (sql.isTransaction) sql.exec('ROLLBACK');
    throw err;
  }
}

const insert = (id: string, parent: string | null = null) => () => sql.prepare('INSERT INTO changes (id, parent) VALUES (?, ?)').run(id, parent);
const stored = (): string[] => (reader.prepare('SELECT id FROM changes ORDER BY id').all() as { id: string }[]).map((r) => r.id);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
  sql = new DatabaseSync(join(dir, 'hub.db'));
  // A deferred foreign key is checked at COMMIT, not by the statement: the way to make a COMMIT fail.
  sql.exec(`PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;
    CREATE TABLE changes (id TEXT PRIMARY KEY, parent TEXT REFERENCES changes (id) DEFERRABLE INITIALLY DEFERRED);`);
  reader = new DatabaseSync(join(dir, 'hub.db'), { readOnly: true });
  commits = 0;
});
afterEach(() => {
  reader.close();
  sql.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('group commit', () => {
  it('rolls back a failing write alone; the others in its commit are stored', async () => {
    const writes = groupCommit({ sql, transaction });
    const results = await Promise.allSettled([writes.write(insert('chg-1')), writes.write(insert('chg-1')), writes.write(insert('chg-2'))]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /UNIQUE constraint failed/);
    assert.deepEqual(stored(), ['chg-1', 'chg-2']);
    assert.equal(commits, 1);
  });

  it('rejects a write alone in its commit with its own error and stores nothing of it', async () => {
    const writes = groupCommit({ sql, transaction });
    await assert.rejects(
      writes.write(() => {
        insert('chg-1')();
        throw new Error('refused halfway');
      }),
      /refused halfway/,
    );
    assert.deepEqual(stored(), []);
  });

  it('settles every write of a turn only after their one COMMIT', async () => {
    const writes = groupCommit({ sql, transaction });
    const seenAtSettle: string[][] = [];
    const all = ['chg-1', 'chg-2', 'chg-3'].map((id) => writes.write(insert(id)).then(() => seenAtSettle.push(stored())));
    assert.deepEqual(stored(), [], 'nothing runs before the next turn of the event loop');
    await Promise.all(all);
    assert.equal(commits, 1);
    assert.deepEqual(seenAtSettle, [1, 2, 3].map(() => ['chg-1', 'chg-2', 'chg-3']));
  });

  it('rejects every write of the commit when the COMMIT fails, and stores none of them', async () => {
    const writes = groupCommit({ sql, transaction });
    const results = await Promise.allSettled([writes.write(insert('chg-1')), writes.write(insert('chg-2', 'chg-missing'))]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    for (const r of results) assert.match(String((r as PromiseRejectedResult).reason), /FOREIGN KEY constraint failed/);
    assert.deepEqual(stored(), []);
    assert.equal(sql.isTransaction, false);
  });

  it('commits the waiting writes at once on flush (before closing)', async () => {
    const writes = groupCommit({ sql, transaction });
    const done = writes.write(insert('chg-1'));
    writes.flush();
    assert.deepEqual(stored(), ['chg-1']);
    await done;
  });

  it('wraps a commit in the durability hook only when one of its writes asks to be durable', async () => {
    const durableCommits: number[] = [];
    const writes = groupCommit({
      sql,
      transaction,
      durably: (commit) => {
        commit();
        durableCommits.push(commits);
      },
    });
    await Promise.all([writes.write(insert('chg-1')), writes.write(insert('chg-2'))]);
    await Promise.all([writes.write(insert('chg-3')), writes.write(insert('chg-4'), { durable: true })]);
    assert.deepEqual(durableCommits, [2]);
    assert.deepEqual(stored(), ['chg-1', 'chg-2', 'chg-3', 'chg-4']);
  });
});
