// Standard Webhooks (standardwebhooks.com) signatures: `webhook-signature: v1,<base64 HMAC-SHA256>` over
// "<webhook-id>.<webhook-timestamp>.<raw body>", keyed with the base64 part of the "whsec_…" secret.
// Several signatures may be sent space-separated (secret rotation); any one matching is enough.
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { webhookSecrets, type ConnectionSettings, type InboundDelivery, type VerifyResult } from '../../src/sdk/index.ts';

const defaultToleranceSeconds = 5 * 60;

export function signingKeys(connection: ConnectionSettings): Buffer[] {
  return webhookSecrets(connection).map((text) => Buffer.from(text.startsWith('whsec_') ? text.slice('whsec_'.length) : text, 'base64'));
}

// Turning raw key bytes into a KeyObject on every delivery was a tenth of ingest's CPU: keep one per
// connection settings object (a reload makes new settings, so a rotated secret is never served stale).
const keyObjects = new WeakMap<ConnectionSettings, KeyObject[]>();

function hmacKeys(connection: ConnectionSettings): KeyObject[] {
  let keys = keyObjects.get(connection);
  if (!keys) {
    keys = signingKeys(connection).map((k) => createSecretKey(k));
    keyObjects.set(connection, keys);
  }
  return keys;
}

export function sign(key: Buffer | KeyObject, id: string, timestamp: string, body: Buffer): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
}

export function verifyStandardWebhook(delivery: InboundDelivery, connection: ConnectionSettings): VerifyResult {
  const id = delivery.headers['webhook-id'];
  const timestamp = delivery.headers['webhook-timestamp'];
  const signatures = delivery.headers['webhook-signature'];
  if (!id) return { ok: false, reason: 'missing webhook-id header' };
  if (!timestamp) return { ok: false, reason: 'missing webhook-timestamp header' };
  if (!signatures) return { ok: false, reason: 'missing webhook-signature header' };
  if (!/^\d+$/.test(timestamp)) return { ok: false, reason: 'webhook-timestamp is not a Unix time in seconds' };
  const tolerance = typeof connection.webhook?.toleranceSeconds === 'number' ? connection.webhook.toleranceSeconds : defaultToleranceSeconds;
  const skew = Math.abs(delivery.receivedAt.getTime() / 1000 - Number(timestamp));
  // Replays of a captured delivery are refused once outside the window.
  if (skew > tolerance) return { ok: false, reason: `webhook-timestamp is ${Math.round(skew)}s away from now (tolerance ${tolerance}s)` };
  const keys = hmacKeys(connection);
  if (keys.length === 0) return { ok: false, reason: `connection ${connection.id} has no webhook secret configured` };
  const offered = signatures.split(' ').filter((s) => s.startsWith('v1,')).map((s) => Buffer.from(s.slice(3), 'base64'));
  if (offered.length === 0) return { ok: false, reason: 'webhook-signature has no v1 signature' };
  for (const key of keys) {
    const expected = Buffer.from(sign(key, id, timestamp, delivery.rawBody), 'base64');
    if (offered.some((o) => o.length === expected.length && timingSafeEqual(o, expected))) return { ok: true };
  }
  return { ok: false, reason: 'webhook-signature does not match the body' };
}
