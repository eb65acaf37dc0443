// ServiceNow has no built-in webhook: the hub's business rule (business-rule.js) POSTs the JSON and
// signs it the way GitHub does (X-Hub-Signature-256: sha256=<hex>), or, where an instance's admins
// prefer it, the REST message uses Basic auth with credentials only the hub knows.
import { verifyBasicAuth, verifyHmacSha256Header, webhookSecrets, webhookSetting, type ConnectionSettings, type InboundDelivery, type VerifyResult } from '../../src/sdk/index.ts';

export function verifyServiceNow(delivery: InboundDelivery, connection: ConnectionSettings): VerifyResult {
  const secrets = webhookSecrets(connection);
  if (secrets.length > 0) return verifyHmacSha256Header(delivery, 'x-hub-signature-256', secrets);
  const username = webhookSetting(connection, 'username');
  const password = webhookSetting(connection, 'password');
  if (username === null || password === null) {
    return { ok: false, reason: `connection ${connection.id} has neither webhook.secret nor webhook.username/password` };
  }
  return verifyBasicAuth(delivery, username, password);
}
