// The ingest journal (src/pipeline/ingest-journal.ts): acknowledged once on disk, stored afterwards,
// deduplicated against the store and itself, recovered after a crash, never deleted before stored.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createLogger } from '../../src/log.ts';
import type { DeliveryToWrite, DeliveryWriter, WrittenDelivery } from '../../src/pipeline/delivery-writer.ts';
import { journaledDeliveryWriter } from '../../src/pipeline/ingest-journal.ts';

let logs = '';
const log = createLogger({ level: 'info', destination: new Writable({ write: (c: Buffer, _e, cb) => ((logs += c.toString()), cb()) }) });

function item(dedupeKey: string, connectionId = 'deploy-tool'): DeliveryToWrite {
  return {
    delivery: { id: randomUUID(), connectionId, dedupeKey, event: 'change.requested', receivedAt: new Date().toISOString(), headers: {}, body: '{}' },
    jobKey: connectionId,
  };
}

/** A writer that stores in memory, optionally holding every write until released or failing. */
function memoryWriter() {
  const stored = new Map<string, string>(); // dedupe key → id
  const writes: DeliveryToWrite[][] = [];
  let gate: Promise<void> | null = null;
  let open: () => void = () => {};
  let failures = 0;
  const lookups: string[][] = [];
  const writer: DeliveryWriter = {
    gatherMs: 0,
    async write(items) {
      writes.push(items);
      if (gate) await gate;
      if (failures > 0) {
        failures--;
        throw new Error('disk full');
      }
      return items.map((i): WrittenDelivery => {
        const k = `${i.delivery.connectionId}/${i.delivery.dedupeKey}`;
        const first = stored.get(k);
        if (first) return { inserted: false, deliveryId: first };
        stored.set(k, i.delivery.id);
        return { inserted: true, deliveryId: i.delivery.id };
      });
    },
    pending: () => null,
    pendingEnqueues: () => 0,
    enqueueFailures: () => 0,
    drained: async () => undefined,
    close: async () => undefined,
  };
  return {
    writer,
    stored,
    writes,
    hold() {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release() {
      gate = null;
      open();
    },
    failNext(n: number) {
      failures = n;
    },
    lookups,
    lookup: async (connectionId: string, dedupeKeys: string[]) => {
      lookups.push(dedupeKeys);
      const ids = new Map<string, string>();
      for (const k of dedupeKeys) {
        const id = stored.get(`${connectionId}/${k}`);
        if (id) ids.set(k, id);
      }
      return ids;
    },
  };
}

const journalFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.ndjson'));

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

describe('ingest journal', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hub-journal-'));
    logs = '';
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('acknowledges once the line is on disk, before the store has it, and shows it as pending meanwhile', async () => {
    const m = memoryWriter();
    m.hold();
    const j = await journaledDeliveryWriter({ dir, inner: m.writer, lookup: m.lookup, log });
    const a = item('msg_1');
    assert.deepEqual(await j.write([a]), [{ inserted: true, deliveryId: a.delivery.id }]);
    assert.equal(m.stored.size, 0, 'not stored yet');
    const lines = journalFiles(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean));
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as DeliveryToWrite).delivery.id), [a.delivery.id]);
    assert.equal(j.pending(a.delivery.id)?.dedupeKey, 'msg_1');
    assert.equal(j.pendingEnqueues(), 1, 'counted as waiting, so ingest bounds it');
    m.release();
    await j.drained();
    assert.equal(m.stored.get('deploy-tool/msg_1'), a.delivery.id);
    assert.equal(j.pending(a.delivery.id), null);
    await j.close();
    assert.deepEqual(journalFiles(dir), [], 'a fully stored journal is deleted at close');
  });

  it('answers a duplicate with the first one\'s id, whether it is stored already or still in the journal', async () => {
    const m = memoryWriter();
    const j = await journaledDeliveryWriter({ dir, inner: m.writer, lookup: m.lookup, log });
    const old = item('msg_old');
    await j.write([old]);
    await j.drained();
    m.hold();
    const a = item('msg_new');
    const [first, again] = await Promise.all([j.write([a]), j.write([item('msg_new'), item('msg_old')])]);
    assert.deepEqual(first, [{ inserted: true, deliveryId: a.delivery.id }]);
    assert.deepEqual(again, [
      { inserted: false, deliveryId: a.delivery.id },
      { inserted: false, deliveryId: old.delivery.id },
    ]);
    m.release();
    await j.drained();
    assert.equal(m.writes.flat().length, 2, 'each delivery handed to the store once');
    await j.close();
  });

  it('looks a batch up with one read per connection, and hands what is journaled while the store commits over in one batch, in order', async () => {
    const m = memoryWriter();
    const j = await journaledDeliveryWriter({ dir, inner: m.writer, lookup: m.lookup, log });
    await j.write([item('k1'), item('k2', 'other-tool'), item('k3')]);
    assert.deepEqual(m.lookups.map((keys) => [...keys].sort()), [['k1', 'k3'], ['k2']]);
    await j.drained();
    m.hold();
    await j.write([item('k4')]); // the store is now busy with this one
    await j.write([item('k5')]);
    await j.write([item('k6'), item('k7')]);
    m.release();
    await j.drained();
    assert.deepEqual(m.writes.map((w) => w.map((i) => i.delivery.dedupeKey)), [['k1', 'k2', 'k3'], ['k4'], ['k5', 'k6', 'k7']]);
    await j.close();
  });

  it('deletes a journal file once every delivery in it is stored, not before', async () => {
    const m = memoryWriter();
    m.hold();
    // A tiny file size: every append starts a new file.
    const j = await journaledDeliveryWriter({ dir, inner: m.writer, lookup: m.lookup, log, fileBytes: 1 });
    await j.write([item('a')]);
    await j.write([item('b')]);
    assert.ok(journalFiles(dir).length >= 2, `the written files stay while not stored: ${journalFiles(dir).join(', ')}`);
    m.release();
    await j.drained();
    await until('stored files deleted', () => journalFiles(dir).length === 1);
    await j.close();
    assert.deepEqual(journalFiles(dir), []);
  });

  it('keeps handing deliveries to a failing store until it takes them', async () => {
    const m = memoryWriter();
    m.failNext(2);
    const j = await journaledDeliveryWriter({ dir, inner: m.writer, lookup: m.lookup, log, retryMs: 10 });
    const a = item('msg_retry');
    await j.write([a]);
    await j.drained();
    assert.equal(m.stored.get('deploy-tool/msg_retry'), a.delivery.id);
    assert.equal(m.writes.length, 3);
    assert.match(logs, /could not be stored yet; retrying/);
    await j.close();
  });

  it('stores at start what a crashed process acknowledged, drops a torn last line, and leaves a living process\'s journal alone', async () => {
    mkdirSync(dir, { recursive: true });
    const a = item('msg_a');
    const b = item('msg_b');
    writeFileSync(join(dir, `journal-${await deadPid()}-17000000000000000.ndjson`), `${JSON.stringify(a)}\n${JSON.stringify(b)}\n{"delivery":{"id":"torn`);
    const living = join(dir, `journal-${process.ppid}-17000000000000001.ndjson`);
    writeFileSync(living, `${JSON.stringify(item('msg_living'))}\n`);
    const m = memoryWriter();
    m.stored.set('deploy-tool/msg_b', b.delivery.id); // stored before the crash, its journal not yet deleted
    const j = await journaledDeliveryWriter({ dir, inner: m.writer, lookup: m.lookup, log });
    assert.equal(m.stored.get('deploy-tool/msg_a'), a.delivery.id);
    assert.equal(m.stored.size, 2, 'msg_b not stored twice; the living journal not taken');
    assert.deepEqual(journalFiles(dir).filter((f) => !f.startsWith(`journal-${process.pid}-`)), [living.split('/').pop()]);
    assert.ok(!logs.includes('unreadable line'), 'a torn last line is expected after a crash, not an error');
    await j.close();
  });

  it('recovers the oldest journal first, whichever process wrote it', async () => {
    mkdirSync(dir, { recursive: true });
    const [low, high] = [await deadPid(), await deadPid()].sort((a, b) => a - b);
    const older = item('msg_older');
    const newer = item('msg_newer');
    writeFileSync(join(dir, `journal-${low}-17000000000020000.ndjson`), `${JSON.stringify(newer)}\n`);
    writeFileSync(join(dir, `journal-${high}-17000000000010000.ndjson`), `${JSON.stringify(older)}\n`);
    const m = memoryWriter();
    const j = await journaledDeliveryWriter({ dir, inner: m.writer, lookup: m.lookup, log });
    assert.deepEqual(m.writes.flat().map((i) => i.delivery.dedupeKey), ['msg_older', 'msg_newer']);
    await j.close();
  });

  it('refuses to start when what a crashed process acknowledged cannot be stored', async () => {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `journal-${await deadPid()}-17000000000000000.ndjson`);
    writeFileSync(file, `${JSON.stringify(item('msg_a'))}\n`);
    const m = memoryWriter();
    m.failNext(1);
    await assert.rejects(journaledDeliveryWriter({ dir, inner: m.writer, lookup: m.lookup, log }), /could not store the 1 acknowledged deliveries of the ingest journal/);
    assert.deepEqual(journalFiles(dir), [file.split('/').pop()], 'the journal is kept for the next start');
  });

  it('keeps at close what the store did not take, for the next start', async () => {
    const m = memoryWriter();
    m.hold();
    const j = await journaledDeliveryWriter({ dir, inner: m.writer, lookup: m.lookup, log, closeWaitMs: 50 });
    await j.write([item('msg_stuck')]);
    await j.close();
    assert.equal(journalFiles(dir).length, 1);
    m.release();
  });
});
