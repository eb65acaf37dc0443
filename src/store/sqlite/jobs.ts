import type { JobRecord, JobStatus, JobStore } from '../port.ts';
import { maybeJson, str, strOrNull, toJson, type Db } from './db.ts';

const toJob = (r: Record<string, unknown>): JobRecord => ({
  key: str(r.key), changeId: strOrNull(r.change_id), connectionId: str(r.connection_id), intent: str(r.intent),
  status: str(r.status) as JobStatus, attempts: Number(r.attempts), result: maybeJson(r.result), error: strOrNull(r.error),
  createdAt: str(r.created_at), updatedAt: str(r.updated_at),
});

export function sqliteJobs(db: Db): JobStore {
  const getStmt = db.stmt('SELECT * FROM jobs WHERE key = ?');
  const get = (key: string) => {
    const r = getStmt.get(key);
    return r ? toJob(r) : null;
  };
  return {
    async ensure(job) {
      const at = db.now();
      return db.write(() => {
        const r = db.stmt(`
          INSERT INTO jobs (key, change_id, connection_id, intent, status, attempts, result, error, created_at, updated_at)
          VALUES (?, ?, ?, ?, 'pending', 0, NULL, NULL, ?, ?) ON CONFLICT (key) DO NOTHING`)
          .run(job.key, job.changeId, job.connectionId, job.intent, at, at);
        return { created: Number(r.changes) === 1, job: get(job.key)! };
      });
    },
    async get(key) {
      return get(key);
    },
    async start(key) {
      // One statement: of two workers starting the same job, only one sees it pending.
      const r = await db.write(() => db.stmt(`UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ?
        WHERE key = ? AND status IN ('pending', 'failed') RETURNING *`).get(db.now(), key));
      return r ? toJob(r) : null;
    },
    async finish(key, result) {
      await db.write(() => db.stmt(`UPDATE jobs SET status = 'done', result = ?, error = NULL, updated_at = ? WHERE key = ?`).run(toJson(result), db.now(), key));
    },
    async fail(key, error, final) {
      await db.write(() => db.stmt(`UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE key = ? AND status <> 'done'`)
        .run(final ? 'failed' : 'pending', error, db.now(), key));
    },
    async listForChange(changeId) {
      return db.stmt('SELECT * FROM jobs WHERE change_id = ? ORDER BY created_at, key').all(changeId).map(toJob);
    },
  };
}
