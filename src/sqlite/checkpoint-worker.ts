// The thread behind checkpoints.ts: one connection per file, a PASSIVE checkpoint of each on a timer.
import { DatabaseSync } from 'node:sqlite';
import { parentPort } from 'node:worker_threads';

const connections = new Map<string, DatabaseSync>();
let timer: NodeJS.Timeout | null = null;
let reported = new Set<string>();

function checkpointAll(): void {
  for (const [path, db] of connections) {
    try {
      db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get();
      reported.delete(path);
    } catch (err) {
      // Reported once per failure streak (a locked or vanished file), not every 200 ms.
      if (!reported.has(path)) parentPort?.postMessage({ path, error: String(err) });
      reported.add(path);
    }
  }
}

parentPort?.on('message', (m: { paths: string[]; intervalMs: number }) => {
  for (const [path, db] of connections) {
    if (!m.paths.includes(path)) {
      db.close();
      connections.delete(path);
    }
  }
  for (const path of m.paths) {
    if (connections.has(path)) continue;
    try {
      const db = new DatabaseSync(path);
      db.exec('PRAGMA busy_timeout = 1000');
      connections.set(path, db);
    } catch (err) {
      parentPort?.postMessage({ path, error: String(err) });
    }
  }
  reported = new Set([...reported].filter((p) => connections.has(p)));
  if (timer) clearInterval(timer);
  timer = setInterval(checkpointAll, m.intervalMs);
});
