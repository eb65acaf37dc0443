// The scale-out store: MongoDB (a replica set in production), shared by several hub processes.
import { MongoClient } from 'mongodb';
import { StoreInputError, type Store } from '../port.ts';
import { mongoAudit } from './audit.ts';
import { mongoChanges } from './changes.ts';
import { mongoConflicts } from './conflicts.ts';
import { makeMdb } from './db.ts';
import { mongoDeliveries } from './deliveries.ts';
import { mongoJobs } from './jobs.ts';
import { mongoLinks } from './links.ts';
import { migrate } from './migrations.ts';
import { mongoCursors, mongoTicks } from './schedule.ts';
import { mongoTokens } from './tokens.ts';

export const DEFAULT_DATABASE = 'approval-hub';

/** Connects to `url`; the database is the URL's path ("mongodb://h/hub" → "hub"). */
export async function openMongoStore(url: string, opts: { now?: () => Date } = {}): Promise<Store> {
  let dbName: string;
  try {
    dbName = decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || DEFAULT_DATABASE;
  } catch {
    throw new StoreInputError('store: the MongoDB URL cannot be parsed (expected mongodb://host[:port]/database)');
  }
  // "Durable when the promise resolves" on a replica set means acknowledged by a majority; that is the
  // server default since MongoDB 5 and a `w=` in the URL still wins.
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 10_000, appName: 'approval-hub' });
  await client.connect();
  const m = makeMdb(client.db(dbName), opts.now ?? (() => new Date()));
  return {
    kind: 'mongodb',
    changes: mongoChanges(m),
    links: mongoLinks(m),
    deliveries: mongoDeliveries(m),
    jobs: mongoJobs(m),
    conflicts: mongoConflicts(m),
    audit: mongoAudit(m),
    tokens: mongoTokens(m),
    cursors: mongoCursors(m),
    ticks: mongoTicks(m),
    migrate: () => migrate(m),
    async ping() {
      await m.db.command({ ping: 1 });
    },
    close: () => client.close(),
  };
}
