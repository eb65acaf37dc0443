// PagerDuty v3 webhooks sign the raw body: X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, body)>.
// While a subscription's secret is being rotated the header carries several, comma-separated, and a
// match on any one of them is enough. Compared in constant time against each configured secret.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { webhookSecrets, type ConnectionSettings, type InboundDelivery, type VerifyResult } from '../../src/sdk/index.ts';

const header = 'x-pagerduty-signature';

export function verifyPagerDuty(delivery: InboundDelivery, connection: ConnectionSettings): VerifyResult {
  const value = delivery.headers[header];
  if (!value) return { ok: false, reason: `missing ${header} header` };
  const offered = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1='))
    .map((s) => Buffer.from(s.slice('v1='.length), 'hex'));
  if (offered.length === 0) return { ok: false, reason: `${header} has no v1= signature` };
  const secrets = webhookSecrets(connection);
  if (secrets.length === 0) return { ok: false, reason: 'no webhook secret is configured for this connection' };
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(delivery.rawBody).digest();
    for (const signature of offered) if (signature.length === expected.length && timingSafeEqual(signature, expected)) return { ok: true };
  }
  return { ok: false, reason: `${header} does not match the body` };
}
