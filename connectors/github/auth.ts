// GitHub App authentication: an app JWT (RS256, signed with the App's private key) is exchanged for an
// installation token (1 h). @octokit/auth-app caches the token for 59 minutes, and a token within a minute
// of its expires_at is renewed here; the hub creates one of these per connection, so the cache is per connection.
import { createAppAuth } from '@octokit/auth-app';
import { request } from '@octokit/request';
import { HttpError, type ConnectionAuth, type ConnectionSettings, type Secret } from '../../src/sdk/index.ts';
import { apiBase } from './api.ts';

function setting(connection: ConnectionSettings, key: string): string {
  const value = connection.auth?.[key];
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  if (value && typeof value === 'object' && typeof (value as Secret).reveal === 'function') return (value as Secret).reveal();
  throw new Error(`connection ${connection.id}: auth.${key} is required for a GitHub App (auth.type: github-app)`);
}

function appAuth(connection: ConnectionSettings, fetch: typeof globalThis.fetch) {
  return createAppAuth({
    appId: setting(connection, 'appId'),
    privateKey: setting(connection, 'privateKey'),
    ...(connection.auth?.installationId !== undefined ? { installationId: setting(connection, 'installationId') } : {}),
    // GHES: token exchange against the connection's API base, through the plain fetch the hub gives.
    request: request.defaults({ baseUrl: apiBase(connection).href.replace(/\/+$/, ''), request: { fetch } }),
  });
}

interface OctokitRequestError {
  status?: unknown;
  message: string;
  cause?: unknown;
  request?: { method?: string; url?: string };
  response?: { data?: unknown; headers?: Record<string, unknown> };
}

/**
 * How long GitHub asks to wait when it rate-limits a call (403 or 429), by its documented rules: the
 * retry-after seconds; else, with x-ratelimit-remaining 0, until the x-ratelimit-reset epoch; else, for a
 * 429 or a 403 naming a secondary rate limit, at least a minute. null: not a rate limit. The token
 * exchange goes through @octokit/request, not the hub's HTTP client, so it reads these itself.
 */
export function rateLimitWaitMs(status: number, headers: Record<string, unknown>, message: string, nowMs: number): number | null {
  if (status !== 403 && status !== 429) return null;
  const header = (name: string): number | null => {
    const v = headers[name];
    return (typeof v === 'string' && v.trim() !== '') || typeof v === 'number' ? Number(v) : null;
  };
  const retryAfter = header('retry-after');
  if (retryAfter !== null && Number.isFinite(retryAfter)) return Math.ceil(retryAfter * 1000);
  const reset = header('x-ratelimit-reset');
  if (header('x-ratelimit-remaining') === 0 && reset !== null && Number.isFinite(reset)) return Math.max(0, reset * 1000 - nowMs);
  return status === 429 || /secondary rate limit/i.test(message) ? 60_000 : null;
}

/**
 * The token exchange's failures as the HTTP client reports its own: @octokit/request turns a request that
 * got no answer at all (refused connection, DNS, timeout) into status 500 with no response, which would
 * read as a GitHub server error; here it is status 0, "no response", like every other connector's.
 */
async function tokenExchange<T>(connection: ConnectionSettings, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const e = err as OctokitRequestError;
    // Signing the App JWT failed before any request: the key itself is the problem, not GitHub.
    if (err instanceof Error && typeof e.status !== 'number' && /keyData|private key|PEM|asn1|DECODER/i.test(err.message)) {
      throw new Error(`connection "${connection.id}": auth.privateKey is not a usable RSA private key (${err.message}): give the App's .pem file as GitHub generated it ("-----BEGIN RSA PRIVATE KEY-----" …), e.g. "\${file:/run/secrets/github-app.pem}"`);
    }
    if (!(err instanceof Error) || typeof e.status !== 'number') throw err;
    const method = e.request?.method ?? 'POST';
    const path = e.request?.url ? new URL(e.request.url).pathname : 'the token endpoint';
    const who = `connection "${connection.id}"`;
    if (!e.response) {
      const cause = e.cause instanceof Error ? (e.cause.cause instanceof Error ? `${e.cause.message}: ${e.cause.cause.message}` : e.cause.message) : e.message;
      throw new HttpError(`${who}: ${method} ${path} got no response (${cause})`, 0, null);
    }
    const wait = rateLimitWaitMs(e.status, e.response.headers ?? {}, e.message, Date.now());
    // The key was accepted (no 401) but there is no such installation of this App.
    const hint = e.status === 404 && /\/app\/installations\//.test(path) ? ': check auth.installationId (the number at the end of the installation\'s settings URL) and that the App is installed there' : '';
    throw new HttpError(`${who}: ${method} ${path} answered ${e.status}: ${e.message}${hint}`, e.status, e.response.data ?? null, wait);
  }
}

/** Installation-token headers for the connection's HTTP client. */
export function githubAppAuth(connection: ConnectionSettings, fetch: typeof globalThis.fetch): ConnectionAuth {
  const auth = appAuth(connection, fetch);
  let refused = false;
  return {
    async headers() {
      const refresh = refused;
      refused = false;
      let installation = await tokenExchange(connection, () => auth({ type: 'installation', refresh }));
      // @octokit/auth-app keeps a token 59 minutes whatever its expires_at says; GitHub's expires_at is
      // the token's real end, so a token within a minute of it is exchanged for a new one.
      if (Date.parse(installation.expiresAt) - Date.now() < 60_000) {
        installation = await tokenExchange(connection, () => auth({ type: 'installation', refresh: true }));
      }
      return { authorization: `token ${installation.token}` };
    },
    // GitHub answered 401 "Bad credentials": the token was revoked (DELETE /installation/token) or is
    // unknown to the server before its expires_at. The next call exchanges the JWT for a new one.
    invalidate() {
      refused = true;
      return true;
    },
  };
}

/**
 * Headers for a call about a delivery's repository: a GitHub App has one webhook URL for all its
 * installations, and only the installation a protection rule fired in may answer it (another one's token
 * gets 404 or 403). A delivery from the connection's own installation (or naming none) uses the
 * connection's cached token; another installation's token is exchanged for this action run.
 */
export async function installationHeaders(connection: ConnectionSettings, installationId: unknown): Promise<Record<string, string>> {
  if (typeof installationId !== 'number' || String(installationId) === String(connection.auth?.installationId ?? '')) return {};
  const { token } = await tokenExchange(connection, () => appAuth(connection, globalThis.fetch)({ type: 'installation', installationId }));
  return { authorization: `token ${token}` };
}

/** The App's own JWT, for /app endpoints (hook deliveries) that an installation token cannot call. */
export async function appJwtHeader(connection: ConnectionSettings): Promise<Record<string, string>> {
  const { token } = await appAuth(connection, globalThis.fetch)({ type: 'app' });
  return { authorization: `Bearer ${token}` };
}
