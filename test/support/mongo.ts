// The stores every contract test runs against: SQLite (a temp file), the jongodb MongoDB-wire server
// that scripts/test.ts starts (JONGODB_URI), and a real MongoDB when MONGODB_URI is set.
// Each call gives fresh, uniquely named databases; `cleanup()` drops them.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';

export interface StoreTarget {
  /** "sqlite", "jongodb" or "mongodb". */
  name: string;
  /** A store URL for openStore; open it as often as you like (several processes included). */
  url: string;
  /** Removes the file or drops the database. */
  cleanup(): Promise<void>;
}

/** A MongoDB URL with its database replaced by a unique one. */
export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

const STORE_COLLECTIONS = ['changes', 'links', 'deliveries', 'jobs', 'conflicts', 'transitions', 'tokens', 'cursors', 'ticks', 'migrations'];

function mongoTarget(name: string, base: string): StoreTarget {
  const db = `hub-test-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
  const url = withDatabase(base, db);
  return {
    name,
    url,
    async cleanup() {
      const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
      try {
        await client.connect();
        const d = client.db(db);
        try {
          await d.dropDatabase();
        } catch {
          // jongodb has neither dropDatabase nor listCollections: empty the store's collections.
          for (const name of STORE_COLLECTIONS) await d.collection(name).drop().catch(() => d.collection(name).deleteMany({}));
        }
      } finally {
        await client.close();
      }
    },
  };
}

export function storeTargets(): StoreTarget[] {
  // Not created here: the adapter creates the folder when the store is opened, so targets that are
  // only listed leave nothing behind.
  const dir = join(tmpdir(), `hub-store-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`);
  const targets: StoreTarget[] = [
    { name: 'sqlite', url: `sqlite:${join(dir, 'hub.db')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) },
  ];
  const jongodb = process.env.JONGODB_URI;
  if (!jongodb) {
    // The suite is meant to run every adapter; running without the MongoDB-wire server would pass
    // while testing half of the code.
    throw new Error('JONGODB_URI is not set: run the tests through scripts/test.ts (npm test), which starts jongodb');
  }
  targets.push(mongoTarget('jongodb', jongodb));
  if (process.env.MONGODB_URI) targets.push(mongoTarget('mongodb', process.env.MONGODB_URI));
  return targets;
}

/** The kind of adapter behind a target ("sqlite" or "mongodb"), for tests that tamper with raw data. */
export function targetKind(t: StoreTarget): 'sqlite' | 'mongodb' {
  return t.url.startsWith('sqlite:') ? 'sqlite' : 'mongodb';
}
