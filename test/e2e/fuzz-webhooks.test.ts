// Hostile input against a real hub process (embedded default): 10 000 malformed, oversized, unsigned,
// wrongly signed, stale, oddly encoded and replayed deliveries. Every answer is a 4xx or a 202, the hub
// stays up, and only the valid deliveries are stored, each once however often it was replayed.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../src/store/index.ts';
import { e2eHubConfig, e2ePolicyFiles, newWebhookSecret, sendAll, signStandardWebhook, startHub, type HubProcess, type Sent } from '../support/hub-process.ts';

const total = 10_000;
const bodyLimit = 16 * 1024;

interface Case {
  kind: string;
  path: string;
  body: string | Buffer;
  headers: Record<string, string>;
  /** The valid delivery id this case replays, if it is one. */
  validId?: string;
}

function validBody(id: string): string {
  return JSON.stringify({ type: 'change.requested', change: { title: `fuzz ${id}`, environment: 'staging', requester: 'dev@example.com' }, link: { kind: 'deployment', externalId: id } });
}

/** Deterministic mix: case n of the run. */
function makeCase(n: number, secret: string, validIds: string[]): Case {
  const now = Math.floor(Date.now() / 1000);
  const id = `msg_fuzz_${n}`;
  const path = '/webhooks/fuzz-tool';
  const body = validBody(id);
  switch (n % 16) {
    case 0: {
      // Valid, and replayed: the same 250 deliveries come back again and again.
      const vid = validIds[n % validIds.length]!;
      const vbody = validBody(vid);
      return { kind: 'replayed-valid', path, body: vbody, headers: signStandardWebhook(secret, vid, vbody), validId: vid };
    }
    case 1:
      return { kind: 'unsigned', path, body, headers: { 'content-type': 'application/json' } };
    case 2:
      return { kind: 'wrong-secret', path, body, headers: signStandardWebhook(newWebhookSecret(), id, body) };
    case 3: {
      const h = signStandardWebhook(secret, id, body);
      return { kind: 'body-altered-after-signing', path, body: body.replace('fuzz', 'fuzZ'), headers: h };
    }
    case 4:
      return { kind: 'stale', path, body, headers: signStandardWebhook(secret, id, body, now - 3600 - (n % 1000)) };
    case 5:
      return { kind: 'from-the-future', path, body, headers: signStandardWebhook(secret, id, body, now + 3600) };
    case 6: {
      const bad = `{"type":"change.requested","change":{"title":"x"${['', '}', ',}'][n % 3]}`;
      return { kind: 'signed-malformed-json', path, body: bad, headers: signStandardWebhook(secret, id, bad) };
    }
    case 7: {
      const big = JSON.stringify({ type: 'change.requested', pad: 'x'.repeat(bodyLimit + 1 + (n % 2000)) });
      return { kind: 'oversized', path, body: big, headers: signStandardWebhook(secret, id, big) };
    }
    case 8:
      return { kind: 'garbage-signature', path, body, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(now), 'webhook-signature': ['v1,', 'v1,!!!', 'v2,abc', '', 'v1,' + 'A'.repeat(5000)][n % 5]! } };
    case 9:
      return { kind: 'non-numeric-timestamp', path, body, headers: { ...signStandardWebhook(secret, id, body), 'webhook-timestamp': ['soon', '-1', '1e10', '0x10', ' '][n % 5]! } };
    case 10: {
      const bin = randomBytes(1 + (n % 2048));
      return { kind: 'binary-body', path, body: bin, headers: { 'content-type': 'application/octet-stream', 'webhook-id': id, 'webhook-timestamp': String(now), 'webhook-signature': 'v1,AAAA' } };
    }
    case 11:
      return { kind: 'unknown-connection', path: `/webhooks/${['nope', 'a'.repeat(150), 'x.y', 'FUZZ-TOOL', 'fuzz-tool%00'][n % 5]}`, body, headers: signStandardWebhook(secret, id, body) };
    case 12:
      return { kind: 'odd-content-type', path, body, headers: { ...signStandardWebhook(secret, id, body), 'content-type': ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', '*/*'][n % 5]! } };
    case 13: {
      // Deeply nested JSON, signed with a wrong key: must be refused without parsing trouble.
      const deep = '['.repeat(5000) + ']'.repeat(5000);
      return { kind: 'deep-nesting-unsigned', path, body: deep, headers: signStandardWebhook(newWebhookSecret(), id, deep) };
    }
    case 14: {
      const proto = '{"__proto__":{"polluted":true},"type":"change.requested"}';
      return { kind: 'prototype-pollution-wrong-key', path, body: proto, headers: signStandardWebhook(newWebhookSecret(), id, proto) };
    }
    default: {
      const empty = '';
      return { kind: 'signed-empty-body', path, body: empty, headers: signStandardWebhook(secret, id, empty) };
    }
  }
}

describe('hostile deliveries against a hub process', () => {
  let hub: HubProcess;
  const secret = newWebhookSecret();
  before(async () => {
    hub = await startHub({
      config: e2eHubConfig({ connections: [{ id: 'fuzz-tool', secretEnv: 'FUZZ_SECRET' }], bodyLimit }),
      env: { FUZZ_SECRET: secret },
      files: e2ePolicyFiles,
    });
  });
  after(async () => {
    await hub?.dispose();
  });

  it('answers 10 000 hostile deliveries with 4xx or 202, stays up, and stores each valid one once', { timeout: 170_000 }, async () => {
    const pid = hub.pid();
    const validIds = Array.from({ length: 250 }, () => `msg_valid_${randomUUID()}`);
    const cases = Array.from({ length: total }, (_, n) => makeCase(n, secret, validIds));
    const sent: Sent[] = await sendAll(hub.url, cases, 64, undefined, { resendRefused: 30 });

    const byStatus = new Map<number, number>();
    for (const s of sent) byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + 1);
    const summary = JSON.stringify(Object.fromEntries(byStatus));
    assert.equal(sent.filter((s) => s.status === 0).length, 0, `no request failed at the socket: ${summary}`);
    assert.equal(sent.filter((s) => s.status >= 500).length, 0, `no 5xx: ${summary}`);

    // Each kind gets the answer a sender can act on.
    const expect: Record<string, number[]> = {
      'replayed-valid': [202],
      unsigned: [401],
      'wrong-secret': [401],
      'body-altered-after-signing': [401],
      stale: [401],
      'from-the-future': [401],
      'signed-malformed-json': [400],
      oversized: [413],
      'garbage-signature': [401],
      'non-numeric-timestamp': [401],
      'binary-body': [401],
      // 414: an id longer than the router's parameter limit (100) is refused before any route runs.
      'unknown-connection': [404, 414],
      'odd-content-type': [202, 400, 401, 415],
      'deep-nesting-unsigned': [401],
      'prototype-pollution-wrong-key': [401],
      'signed-empty-body': [400],
    };
    for (const [i, s] of sent.entries()) {
      const c = cases[i]!;
      assert.ok(expect[c.kind]!.includes(s.status), `${c.kind} answered ${s.status}: ${s.text.slice(0, 200)}`);
      if (s.status !== 202 && s.status !== 414) assert.match(s.contentType, /application\/problem\+json/, `${c.kind} answers problem JSON`);
    }
    assert.equal(hub.pid(), pid, 'the hub did not restart');
    const health = await fetch(`${hub.url}/healthz`);
    assert.equal(health.status, 200);

    // Stored: the distinct valid deliveries (plus odd-content-type ones the hub accepted as valid JSON).
    const oddAccepted = new Set(sent.flatMap((s, i) => (cases[i]!.kind === 'odd-content-type' && s.status === 202 ? [i] : [])));
    const replayed = new Set(cases.flatMap((c) => (c.validId ? [c.validId] : [])));
    const store = await openStore(`sqlite:${hub.dataDir}/hub.db`);
    try {
      const counts = await store.deliveries.countByStatus();
      const stored = counts.received + counts.processed + counts.ignored + counts.failed;
      assert.equal(stored, replayed.size + oddAccepted.size, `stored ${stored}: ${JSON.stringify(counts)}`);
      const duplicates = sent.filter((s, i) => cases[i]!.kind === 'replayed-valid' && s.json?.duplicate === true).length;
      assert.equal(duplicates, sent.filter((_, i) => cases[i]!.kind === 'replayed-valid').length - replayed.size, 'every replay after the first is answered as a duplicate');
    } finally {
      await store.close();
    }
  });
});
