// GitHub signs every delivery with X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>;
// compared in constant time (the legacy sha1 X-Hub-Signature is not accepted).
import { verifyHmacSha256Header, webhookSecrets, type ConnectionSettings, type InboundDelivery, type VerifyResult } from '../../src/sdk/index.ts';

export function verifyGitHub(delivery: InboundDelivery, connection: ConnectionSettings): VerifyResult {
  return verifyHmacSha256Header(delivery, 'x-hub-signature-256', webhookSecrets(connection));
}
