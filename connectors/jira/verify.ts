// Jira Cloud signs admin-registered webhooks that have a secret with WebSub's header:
// X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)> (no "-256" in the name, unlike GitHub).
// OAuth/Connect dynamic webhooks are not signed, so the hub accepts only webhooks registered with a secret.
import { verifyHmacSha256Header, webhookSecrets, type ConnectionSettings, type InboundDelivery, type VerifyResult } from '../../src/sdk/index.ts';

export function verifyJira(delivery: InboundDelivery, connection: ConnectionSettings): VerifyResult {
  return verifyHmacSha256Header(delivery, 'x-hub-signature', webhookSecrets(connection));
}
