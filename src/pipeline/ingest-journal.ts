// The ingest journal: on the embedded default, a webhook is acknowledged once it is in an append-only
// file of this process's, synced to disk, instead of once the delivery writer thread has committed it to
// SQLite. The SQLite commit still happens, a few milliseconds later and off the sender's clock.
//
// Why: the commit the 202 waited for was a round trip to the writer thread, a turn at the store's write
// lock (which the processing thread takes hundreds of times a second) and SQLite's commit; measured on
// two cores, acknowledging without waiting for it doubled the acknowledgements a hub gives per second
// and cut the median ack at half load from ~10 ms to ~3 ms. One synced append to a file that
// only this thread appends to is all the durability a 202 needs.
//
// What keeps the promises of a 202:
// - Durable: a delivery is answered after its journal line is synced. The journal file is deleted only
//   once every delivery in it is committed to the store (durably: the writer's commits are fsync'd).
// - After a crash: at start, before the hub listens, the journals of processes that are gone are handed
//   to the writer again. Its insert ignores a dedupe key already stored, so a delivery that reached the
//   store before the crash is not stored twice. A torn last line was never answered and is dropped.
// - Deduplicated: a delivery whose dedupe key is already stored or is in the journal waiting for its
//   commit is answered as a duplicate with the first one's id, as before.
// - Readable: a delivery acknowledged but not yet committed is visible through `pending(id)` (the
//   deliveries API answers with it), so its id can be looked up the moment the sender has it.
import { constants, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive } from '../process-alive.ts';
import type { Logger } from '../sdk/index.ts';
import type { DeliveryToWrite, DeliveryWriter, WrittenDelivery } from './delivery-writer.ts';

export interface JournalOptions {
  /** The folder of the journal files (ingestJournalDir: next to the SQLite store). */
  dir: string;
  /** Where the deliveries go next (the writer thread); its commits must be durable. */
  inner: DeliveryWriter;
  /** The ids of the stored deliveries of a connection with these dedupe keys, by key. */
  lookup: (connectionId: string, dedupeKeys: string[]) => Promise<Map<string, string>>;
  log: Logger;
  /** A journal file is replaced by a new one past this size, and deleted once all of it is committed. */
  fileBytes?: number;
  /** How long to wait before handing deliveries to the writer again after it failed. */
  retryMs?: number;
  /** How long close() waits for the writer to store what the journal holds (the rest waits for the next start). */
  closeWaitMs?: number;
  /** The most deliveries handed to the writer at once. */
  forwardMaxItems?: number;
}

interface JournalFile {
  path: string;
  handle: FileHandle;
  bytes: number;
  /** Deliveries written to it and not yet committed to the store. */
  uncommitted: number;
  /** Appends under way (the handle stays open until they end). */
  appending: number;
}

const namePattern = /^journal-(\d+)-(\d+)\.ndjson$/;

/** The deliveries of one journal file; a last line cut short by a crash was never acknowledged. */
function readJournal(path: string, log: Logger): DeliveryToWrite[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: DeliveryToWrite[] = [];
  lines.forEach((line, n) => {
    if (line === '') return;
    try {
      out.push(JSON.parse(line) as DeliveryToWrite);
    } catch {
      if (n < lines.length - 1) log.error({ file: path, line: n + 1 }, 'ingest journal: an unreadable line before the end of the file is skipped');
    }
  });
  return out;
}

const keyOf = (connectionId: string, dedupeKey: string) => `${connectionId}\u0000${dedupeKey}`;
const key = (i: DeliveryToWrite) => keyOf(i.delivery.connectionId, i.delivery.dedupeKey);

/** Appends, each synced to disk before it returns (O_DSYNC: one call where write + fdatasync took two). */
const appendFlags = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC;

export async function journaledDeliveryWriter(opts: JournalOptions): Promise<DeliveryWriter> {
  const { dir, inner, log } = opts;
  const fileBytes = opts.fileBytes ?? 8 * 1024 * 1024;
  const retryMs = opts.retryMs ?? 1_000;
  const closeWaitMs = opts.closeWaitMs ?? 10_000;
  const forwardMaxItems = opts.forwardMaxItems ?? 1_000;
  try {
    mkdirSync(dir, { recursive: true });
    await recover(dir, inner, log);
  } catch (err) {
    await inner.close().catch(() => undefined);
    throw err;
  }

  /** Acknowledged, not yet committed: by dedupe key and by id. */
  const waiting = new Map<string, DeliveryToWrite>();
  const byId = new Map<string, DeliveryToWrite>();
  /** Journaled, not yet handed to the writer, in the order they were journaled. */
  let outbox: { item: DeliveryToWrite; file: JournalFile }[] = [];
  let forwarding = false;
  let retryTimer: NodeJS.Timeout | null = null;
  const idle: (() => void)[] = [];
  let sequence = 0;
  let closing = false;
  let rotating = false;
  const files = new Set<JournalFile>();
  let current: JournalFile = await openFile();

  async function openFile(): Promise<JournalFile> {
    const path = join(dir, `journal-${process.pid}-${Date.now()}${String(sequence++).padStart(4, '0')}.ndjson`);
    const file = { path, handle: await open(path, appendFlags), bytes: 0, uncommitted: 0, appending: 0 };
    files.add(file);
    // The new file's name must reach the disk too, or a power cut could lose the whole file.
    const folder = await open(dir, 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
    return file;
  }

  /** Closes a file no one appends to any more, and deletes it once all of it is committed. */
  async function retire(file: JournalFile): Promise<void> {
    if ((file === current && !closing) || file.appending > 0) return;
    if (file.uncommitted > 0 && !closing) return;
    if (!files.delete(file)) return; // retired already
    await file.handle.close().catch(() => undefined);
    if (file.uncommitted > 0) return; // closing with deliveries not stored: the next start stores them
    try {
      unlinkSync(file.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file: file.path, err: String(err) }, 'ingest journal: a committed journal file could not be deleted');
    }
  }

  function settled(): void {
    if (!forwarding && outbox.length === 0 && waiting.size === 0) for (const f of idle.splice(0)) f();
  }

  function forget(items: DeliveryToWrite[]): void {
    for (const i of items) {
      waiting.delete(key(i));
      byId.delete(i.delivery.id);
    }
  }

  /** Hands journaled deliveries to the writer, one batch at a time: what is journaled while the writer
   * commits goes into the next batch, so under load the writer makes few large commits rather than many
   * small ones (each costs it a transaction and a fsync). Once committed, their journal lines are no
   * longer needed. */
  function forward(): void {
    if (forwarding || retryTimer || outbox.length === 0) return;
    const taken = outbox.slice(0, forwardMaxItems);
    outbox = outbox.slice(taken.length);
    const items = taken.map((t) => t.item);
    forwarding = true;
    inner.write(items).then(
      () => {
        forwarding = false;
        forget(items);
        const files = new Set<JournalFile>();
        for (const t of taken) {
          t.file.uncommitted--;
          files.add(t.file);
        }
        for (const file of files) void retire(file);
        forward();
        settled();
      },
      (err: unknown) => {
        forwarding = false;
        // Acknowledged and in the journal: nothing is lost; the next attempt, or the next start, stores them.
        if (closing) {
          log.error({ count: items.length, err: String(err) }, 'ingest journal: deliveries not stored at shutdown stay in the journal for the next start');
          forget(items);
          forward();
          settled();
          return;
        }
        log.error({ count: items.length, err: String(err) }, 'ingest journal: deliveries could not be stored yet; retrying');
        outbox = [...taken, ...outbox];
        retryTimer = setTimeout(() => {
          retryTimer = null;
          forward();
        }, retryMs);
        retryTimer.unref();
      },
    );
  }

  /** The stored ids of these deliveries' dedupe keys, by key(). */
  async function storedIds(items: DeliveryToWrite[]): Promise<Map<string, string>> {
    const keysByConnection = new Map<string, string[]>();
    for (const i of items) {
      const keys = keysByConnection.get(i.delivery.connectionId);
      if (keys) keys.push(i.delivery.dedupeKey);
      else keysByConnection.set(i.delivery.connectionId, [i.delivery.dedupeKey]);
    }
    const found = new Map<string, string>();
    await Promise.all(
      [...keysByConnection].map(async ([connectionId, keys]) => {
        for (const [dedupeKey, id] of await opts.lookup(connectionId, keys)) found.set(keyOf(connectionId, dedupeKey), id);
      }),
    );
    return found;
  }

  async function append(items: DeliveryToWrite[]): Promise<JournalFile> {
    const file = current;
    const bytes = Buffer.from(items.map((i) => `${JSON.stringify(i)}\n`).join(''));
    file.appending++;
    file.uncommitted += items.length;
    file.bytes += bytes.length;
    try {
      for (let at = 0; at < bytes.length; ) at += (await file.handle.write(bytes, at)).bytesWritten;
    } catch (err) {
      file.uncommitted -= items.length;
      throw err;
    } finally {
      file.appending--;
    }
    if (file === current && file.bytes >= fileBytes && !rotating) {
      rotating = true;
      try {
        current = await openFile();
      } finally {
        rotating = false;
      }
    }
    void retire(file);
    return file;
  }

  const writer: DeliveryWriter = {
    gatherMs: 0,
    async write(items) {
      // Stored ones first (one read per connection in the batch), then the keys are claimed without an
      // await in between, so two batches written at once never both take one.
      const keys = items.map(key);
      const stored = await storedIds(items.filter((_, n) => !waiting.has(keys[n]!)));
      const fresh: DeliveryToWrite[] = [];
      const results = items.map((item, n): WrittenDelivery => {
        const k = keys[n]!;
        const first = waiting.get(k);
        if (first) return { inserted: false, deliveryId: first.delivery.id };
        const old = stored.get(k);
        if (old) return { inserted: false, deliveryId: old };
        waiting.set(k, item);
        byId.set(item.delivery.id, item);
        fresh.push(item);
        return { inserted: true, deliveryId: item.delivery.id };
      });
      if (fresh.length === 0) return results;
      let file: JournalFile;
      try {
        file = await append(fresh);
      } catch (err) {
        forget(fresh);
        settled();
        throw err;
      }
      for (const item of fresh) outbox.push({ item, file });
      forward();
      return results;
    },
    pending: (id) => byId.get(id)?.delivery ?? null,
    pendingEnqueues: () => waiting.size + inner.pendingEnqueues(),
    enqueueFailures: () => inner.enqueueFailures(),
    async drained() {
      if (forwarding || outbox.length > 0 || waiting.size > 0) await new Promise<void>((resolve) => idle.push(resolve));
      await inner.drained();
    },
    async close() {
      // Deliveries not stored by then stay in the journal, and the next start stores them.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([writer.drained(), new Promise<void>((resolve) => (timer = setTimeout(resolve, closeWaitMs)))]);
      clearTimeout(timer);
      closing = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      outbox = [];
      for (const file of [...files]) await retire(file);
      await inner.close();
    },
  };
  return writer;
}

/** Hands the journals of processes that are gone to the writer, then deletes them. */
async function recover(dir: string, inner: DeliveryWriter, log: Logger): Promise<void> {
  // Oldest first, whichever process wrote them: deliveries about one record keep their order.
  const journals = readdirSync(dir)
    .map((name) => ({ name, m: namePattern.exec(name) }))
    .filter((j): j is { name: string; m: RegExpExecArray } => j.m !== null)
    .sort((a, b) => a.m[2]!.padStart(20, '0').localeCompare(b.m[2]!.padStart(20, '0')));
  for (const { name, m } of journals) {
    const pid = Number(m[1]);
    if (pid !== process.pid && processAlive(pid)) {
      log.warn({ file: name, pid }, 'ingest journal: left alone, its hub process is still running');
      continue;
    }
    const path = join(dir, name);
    const items = readJournal(path, log);
    for (let at = 0; at < items.length; at += 256) {
      try {
        await inner.write(items.slice(at, at + 256));
      } catch (err) {
        throw new Error(`could not store the ${items.length} acknowledged deliveries of the ingest journal ${path}: ${String(err)}`);
      }
    }
    await inner.drained();
    unlinkSync(path);
    if (items.length > 0) log.info({ file: name, count: items.length }, 'ingest journal: acknowledged deliveries of an earlier run stored');
  }
}
