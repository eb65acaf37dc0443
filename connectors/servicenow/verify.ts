// ServiceNow has no built-in webhook: the hub's business rule (business-rule.js) POSTs the JSON and
// signs it the way GitHub does (X-Hub-Signature-256: sha256=<hex>), or, where an instance's admins
// prefer it, the REST message uses Basic auth with credentials only the hub knows.
import { timingSafeEqual } from 'node:crypto';
import { verifyHmacSha256Header, webhookSecrets, type ConnectionSettings, type InboundDelivery, type Secret, type VerifyResult } from '../../src/sdk/index.ts';

export function verifyServiceNow(delivery: InboundDelivery, connection: ConnectionSettings): VerifyResult {
  const secrets = webhookSecrets(connection);
  if (secrets.length > 0) return verifyHmacSha256Header(delivery, 'x-hub-signature-256', secrets);
  const username = reveal(connection.webhook?.username);
  const password = reveal(connection.webhook?.password);
  if (username === null || password === null) {
    return { ok: false, reason: `connection ${connection.id} has neither webhook.secret nor webhook.username/password` };
  }
  const header = delivery.headers.authorization;
  if (!header) return { ok: false, reason: 'missing authorization header' };
  if (!header.startsWith('Basic ')) return { ok: false, reason: 'authorization header is not Basic' };
  const offered = Buffer.from(header.slice('Basic '.length).trim(), 'base64');
  const expected = Buffer.from(`${username}:${password}`, 'utf8');
  if (offered.length === expected.length && timingSafeEqual(offered, expected)) return { ok: true };
  return { ok: false, reason: 'basic credentials do not match' };
}

function reveal(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as Secret).reveal === 'function') return (value as Secret).reveal();
  return null;
}
