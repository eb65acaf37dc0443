// Schema versions, applied in order inside one write transaction each and recorded in `migrations`.
// Never edit a shipped migration: add the next one.
import type { Db } from './db.ts';

const migrations: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE changes (
        id TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL, tier TEXT, team TEXT,
        environment TEXT, type TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, data TEXT NOT NULL
      ) STRICT;
      CREATE INDEX changes_updated ON changes (updated_at DESC, id DESC);
      CREATE INDEX changes_state ON changes (state, updated_at DESC, id DESC);
      CREATE INDEX changes_team ON changes (team, updated_at DESC, id DESC);
      CREATE INDEX changes_tier ON changes (tier, updated_at DESC, id DESC);

      CREATE TABLE links (
        connection_id TEXT NOT NULL, kind TEXT NOT NULL, external_id TEXT NOT NULL, change_id TEXT NOT NULL,
        url TEXT, version_seen TEXT, data TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (connection_id, kind, external_id)
      ) STRICT;
      CREATE INDEX links_change ON links (change_id);

      CREATE TABLE deliveries (
        id TEXT PRIMARY KEY, connection_id TEXT NOT NULL, dedupe_key TEXT NOT NULL, event TEXT,
        received_at TEXT NOT NULL, headers TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,
        reason TEXT, processed_at TEXT,
        UNIQUE (connection_id, dedupe_key)
      ) STRICT;
      CREATE INDEX deliveries_received ON deliveries (received_at DESC, id DESC);
      CREATE INDEX deliveries_status ON deliveries (status, received_at DESC, id DESC);

      CREATE TABLE jobs (
        key TEXT PRIMARY KEY, change_id TEXT, connection_id TEXT NOT NULL, intent TEXT NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL, result TEXT, error TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX jobs_change ON jobs (change_id, created_at);

      CREATE TABLE conflicts (
        id TEXT PRIMARY KEY, change_id TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
        versions TEXT NOT NULL, resolution TEXT, created_at TEXT NOT NULL, resolved_at TEXT
      ) STRICT;
      CREATE INDEX conflicts_created ON conflicts (created_at DESC, id DESC);
      CREATE INDEX conflicts_change ON conflicts (change_id, created_at DESC, id DESC);

      CREATE TABLE transitions (
        seq INTEGER PRIMARY KEY, change_id TEXT, action TEXT NOT NULL, actor TEXT NOT NULL,
        source_tool TEXT NOT NULL, at TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL,
        rationale TEXT, correlation TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
      ) STRICT;
      CREATE INDEX transitions_change ON transitions (change_id, seq);
      -- The log is append-only for anyone going through SQLite. (Someone with write access to the file
      -- can drop these triggers; the hash chain is what catches that.)
      CREATE TRIGGER transitions_no_update BEFORE UPDATE ON transitions
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: transitions cannot be updated'); END;
      CREATE TRIGGER transitions_no_delete BEFORE DELETE ON transitions
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: transitions cannot be deleted'); END;

      CREATE TABLE tokens (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, roles TEXT NOT NULL,
        actor TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT
      ) STRICT;
      CREATE INDEX tokens_name ON tokens (name);

      CREATE TABLE cursors (
        connection_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (connection_id, name)
      ) STRICT;

      CREATE TABLE ticks (
        schedule TEXT NOT NULL, tick TEXT NOT NULL, owner TEXT NOT NULL, claimed_at TEXT NOT NULL,
        PRIMARY KEY (schedule, tick)
      ) STRICT;
    `,
  },
];

export function migrate(db: Db): void {
  db.sql.exec('CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT');
  for (const m of migrations) {
    db.transaction(() => {
      // Re-checked inside the write lock: another process may have applied it meanwhile.
      if (db.sql.prepare('SELECT 1 FROM migrations WHERE version = ?').get(m.version)) return;
      db.sql.exec(m.sql);
      db.sql.prepare('INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, db.now());
    });
  }
}
