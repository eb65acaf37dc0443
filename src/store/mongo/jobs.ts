import type { JobRecord, JobStore } from '../port.ts';
import { isDuplicateKey, type Mdb } from './db.ts';

type JobDoc = Omit<JobRecord, 'key'> & { _id: string };
const toJob = ({ _id, ...rest }: JobDoc): JobRecord => ({ key: _id, ...rest });

export function mongoJobs(m: Mdb): JobStore {
  const col = m.col<JobDoc>('jobs');
  return {
    async ensure(job) {
      const at = m.now();
      const doc: JobDoc = {
        _id: job.key, changeId: job.changeId, connectionId: job.connectionId, intent: job.intent, status: 'pending',
        attempts: 0, result: null, error: null, createdAt: at, updatedAt: at,
      };
      try {
        await col.insertOne(doc);
        return { created: true, job: toJob(doc) };
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        return { created: false, job: toJob((await col.findOne({ _id: job.key }))!) };
      }
    },
    async get(key) {
      const d = await col.findOne({ _id: key });
      return d ? toJob(d) : null;
    },
    async start(key) {
      const seen = await col.findOne({ _id: key });
      if (!seen || (seen.status !== 'pending' && seen.status !== 'failed')) return null;
      // Compare-and-set on the state read (status, attempts, updatedAt): of two workers, one
      // matches; the other finds the job already moved on.
      const updatedAt = m.now();
      const r = await col.updateOne(
        { _id: key, status: seen.status, attempts: seen.attempts, updatedAt: seen.updatedAt },
        { $set: { status: 'running', updatedAt }, $inc: { attempts: 1 } },
      );
      if (r.modifiedCount !== 1) return null;
      return toJob({ ...seen, status: 'running', attempts: seen.attempts + 1, updatedAt });
    },
    async finish(key, result) {
      await col.updateOne({ _id: key }, { $set: { status: 'done', result, error: null, updatedAt: m.now() } });
    },
    async fail(key, error, final) {
      await col.updateOne({ _id: key, status: { $ne: 'done' } }, { $set: { status: final ? 'failed' : 'pending', error, updatedAt: m.now() } });
    },
    async listForChange(changeId) {
      return (await col.find({ changeId }).sort({ createdAt: 1, _id: 1 }).toArray()).map(toJob);
    },
  };
}
