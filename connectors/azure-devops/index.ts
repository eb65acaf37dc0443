// Azure DevOps: service hook deliveries in, verified and deduplicated, stored and recorded. Turning
// pipeline approvals into changes and decisions is not built yet (it needs the approvals API).
import { defineConnector, jsonObjectOf, verifyBasicAuth, verifySharedSecretHeader, webhookSecrets, webhookSetting, type ConnectionSettings, type InboundDelivery, type ParseResult, type VerifyResult } from '../../src/sdk/index.ts';

/** Service hooks carry no signature: a subscription sends Basic credentials, or headers it is given.
 * The connection says which: webhook.username + webhook.password, or webhook.header + webhook.secret. */
export function verifyAzureDevOps(d: InboundDelivery, connection: ConnectionSettings): VerifyResult {
  const username = webhookSetting(connection, 'username');
  const password = webhookSetting(connection, 'password');
  if (username !== null && password !== null) return verifyBasicAuth(d, username, password);
  const header = webhookSetting(connection, 'header');
  if (header !== null) return verifySharedSecretHeader(d, header.toLowerCase(), webhookSecrets(connection));
  return { ok: false, reason: `connection ${connection.id} has neither webhook.username/password nor webhook.header and webhook.secret` };
}

interface Envelope {
  id?: unknown;
  eventType?: unknown;
  resource?: Record<string, unknown> | null;
}

const envelopeOf = (d: InboundDelivery, body?: unknown) => jsonObjectOf(d, body) as Envelope | null;

export function parseAzureDevOps(d: InboundDelivery): ParseResult {
  const envelope = envelopeOf(d);
  if (!envelope) return { status: 'failed', reason: 'the body is not a service hook envelope (a JSON object)' };
  const type = typeof envelope.eventType === 'string' ? envelope.eventType : 'unknown';
  return { status: 'ignored', reason: `Azure DevOps "${type}" events are verified and stored, but not yet turned into changes or decisions (connectors/azure-devops/README.md)` };
}

export default defineConnector({
  id: 'azure-devops',
  displayName: 'Azure DevOps',
  // Not X-RateLimit-Delay: it says how long Azure DevOps held this request back while slowing the caller
  // down (on answers of any status), not when to come back; a block is a 429 with Retry-After.
  vendor: { pagination: 'continuation-token', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] },
  webhook: {
    verify: verifyAzureDevOps,
    // The envelope's id is the notification's, the same on every retry: ADO guarantees no order, so dedupe on it.
    dedupeKey(d: InboundDelivery, body?: unknown) {
      const id = envelopeOf(d, body)?.id;
      return typeof id === 'string' && id !== '' ? id : null;
    },
    eventName(d: InboundDelivery, body?: unknown) {
      const type = envelopeOf(d, body)?.eventType;
      return typeof type === 'string' ? type : null;
    },
    // Deliveries about one approval, or one run, in the order they came.
    orderingKey(d: InboundDelivery, body: unknown) {
      const resource = envelopeOf(d, body)?.resource;
      const approval = resource?.approval as { id?: unknown } | undefined;
      if (typeof approval?.id === 'string') return `approval/${approval.id}`;
      const run = resource?.run as { id?: unknown } | undefined;
      return typeof run?.id === 'number' || typeof run?.id === 'string' ? `run/${String(run.id)}` : null;
    },
    // The header a subscription sends its secret in is the connection's choice.
    secretHeaders: (connection: ConnectionSettings) => ['authorization', ...[webhookSetting(connection, 'header') ?? []].flat()],
    settingsProblem(keys: string[]) {
      if (keys.includes('username') && keys.includes('password')) return null;
      if (keys.includes('header') && (keys.includes('secret') || keys.includes('secrets'))) return null;
      return 'give webhook.username and webhook.password (Basic auth on the service hook), or webhook.header and webhook.secret (a header the service hook sends)';
    },
  },
  parse: parseAzureDevOps,
  // The project's pipelines, one: baseUrl is https://dev.azure.com/<org>/<project>, as the approvals API is.
  async health(ctx) {
    // (A PAT Azure DevOps does not accept may get a 203 sign-in page: the shared client refuses that as a 401.)
    const res = await ctx.http.request<unknown>({ method: 'GET', path: '/_apis/pipelines', query: { 'api-version': '7.1', $top: 1 } });
    const value = typeof res.body === 'object' && res.body !== null ? (res.body as { value?: unknown }).value : undefined;
    if (!Array.isArray(value)) return { ok: false, detail: `${ctx.connection.baseUrl ?? 'baseUrl'} answered ${res.status} but not as the Pipelines API (expected {"value": [...]}): check baseUrl is https://dev.azure.com/<org>/<project>` };
    return { ok: true, detail: 'PAT accepted by the Pipelines API' };
  },
  readme: 'connectors/azure-devops/README.md',
  options: [],
});
