// Turns a connection's `auth` settings into request headers. Secrets stay wrapped until the header is
// built, and no message here ever includes a revealed value.
import type { ConnectionSettings, Secret } from '../sdk/index.ts';
import { HttpError } from '../sdk/index.ts';

export class AuthConfigError extends Error {
  override name = 'AuthConfigError';
}

type AuthValue = string | Secret | number | boolean;

/** The auth types and the fields each needs (basic's username may be empty: Azure DevOps PATs). Read
 * here at the first call, and by the config loader so a missing field stops check and start instead. */
export const authTypeFields: Readonly<Record<string, readonly string[]>> = Object.freeze({
  basic: ['password'],
  bearer: ['token'],
  header: ['header', 'value'],
  oauth: ['clientId', 'clientSecret'],
  'github-app': ['appId', 'privateKey', 'installationId'], // read by connectors/github, not here
});

function isSecret(v: unknown): v is Secret {
  return typeof v === 'object' && v !== null && typeof (v as Secret).reveal === 'function';
}

/** A field as plain text: Secrets are revealed here and nowhere else. */
function text(auth: Record<string, AuthValue>, field: string, connectionId: string, optional = false): string {
  const v = auth[field];
  if (v === undefined || v === null || v === '') {
    if (optional) return '';
    throw new AuthConfigError(`connection "${connectionId}": auth.${field} is required for auth type "${String(auth.type)}"`);
  }
  return isSecret(v) ? v.reveal() : String(v);
}

export interface AuthHeaders {
  /** Headers for the next call. */
  headers(): Promise<Record<string, string>>;
  /** The vendor said 401: forget any cached token so the next call fetches a fresh one. Returns true if retrying can help. */
  invalidate(): boolean;
}

export interface AuthDeps {
  connection: ConnectionSettings;
  fetch: typeof fetch;
  now: () => number;
  /** Connector-provided headers (e.g. GitHub App installation tokens); wins over connection.auth. */
  authHeaders?: () => Promise<Record<string, string>>;
  /** The connector's token cache to drop on a 401 (ConnectionAuth.invalidate). */
  authInvalidate?: () => boolean;
}

export function createAuth(deps: AuthDeps): AuthHeaders {
  const { connection } = deps;
  if (deps.authHeaders) {
    const provider = deps.authHeaders;
    return { headers: provider, invalidate: deps.authInvalidate ?? (() => false) };
  }
  const auth = connection.auth as Record<string, AuthValue> | null;
  if (!auth) return { headers: async () => ({}), invalidate: () => false };
  const type = String(auth.type ?? '');
  switch (type) {
    case 'basic': {
      // Azure DevOps PATs use an empty username, so only the password is required.
      const user = text(auth, 'username', connection.id, true);
      const pass = text(auth, 'password', connection.id);
      const value = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      return { headers: async () => ({ authorization: value }), invalidate: () => false };
    }
    case 'bearer': {
      const value = `Bearer ${text(auth, 'token', connection.id)}`;
      return { headers: async () => ({ authorization: value }), invalidate: () => false };
    }
    case 'header': {
      // Vendors with their own scheme: PagerDuty "Authorization: Token token=…", GitLab "PRIVATE-TOKEN".
      const name = text(auth, 'header', connection.id).toLowerCase();
      const value = text(auth, 'value', connection.id);
      return { headers: async () => ({ [name]: value }), invalidate: () => false };
    }
    case 'oauth':
      return createOAuth(deps, auth);
    case 'github-app':
      throw new AuthConfigError(
        `connection "${connection.id}": auth type "github-app" needs the connector to provide authHeaders (installation tokens)`,
      );
    default:
      throw new AuthConfigError(
        `connection "${connection.id}": auth.type "${type}" is not one of ${Object.keys(authTypeFields).join(', ')}`,
      );
  }
}

interface CachedToken {
  accessToken: string;
  expiresAt: number;
}

/** OAuth 2 token from ServiceNow's `POST /oauth_token.do` (form-encoded), cached in this client until
 * a minute before it expires. grant: refresh_token when a refresh token is configured, password when
 * username/password are, else client_credentials. */
function createOAuth(deps: AuthDeps, auth: Record<string, AuthValue>): AuthHeaders {
  const { connection } = deps;
  const clientId = text(auth, 'clientId', connection.id);
  text(auth, 'clientSecret', connection.id); // validated now, revealed per token request
  const tokenPath = typeof auth.tokenUrl === 'string' && auth.tokenUrl ? auth.tokenUrl : '/oauth_token.do';
  if (!connection.baseUrl && !/^https?:/.test(tokenPath)) {
    throw new AuthConfigError(`connection "${connection.id}": auth type "oauth" needs baseUrl or auth.tokenUrl`);
  }
  const tokenUrl = /^https?:/.test(tokenPath) ? tokenPath : `${connection.baseUrl!.replace(/\/+$/, '')}${tokenPath}`;
  let cached: CachedToken | null = null;
  let refreshToken: string | null = auth.refreshToken !== undefined ? text(auth, 'refreshToken', connection.id) : null;
  let pending: Promise<CachedToken> | null = null;

  async function fetchToken(): Promise<CachedToken> {
    const form = new URLSearchParams({ client_id: clientId, client_secret: text(auth, 'clientSecret', connection.id) });
    if (refreshToken) {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', refreshToken);
    } else if (auth.username !== undefined) {
      form.set('grant_type', 'password');
      form.set('username', text(auth, 'username', connection.id));
      form.set('password', text(auth, 'password', connection.id));
    } else {
      form.set('grant_type', 'client_credentials');
    }
    if (typeof auth.scope === 'string' && auth.scope) form.set('scope', auth.scope);
    let res: Response;
    try {
      res = await deps.fetch(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
      });
    } catch (err) {
      throw new HttpError(`connection "${connection.id}": OAuth token request failed: ${(err as Error).message}`, 0, null);
    }
    const raw = await res.text();
    let body: Record<string, unknown> | null = null;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      body = null;
    }
    if (!res.ok) {
      // The vendor's error code only: the response could echo the request, which holds the secret.
      const reason = body && typeof body.error === 'string' ? `: ${body.error}` : '';
      throw new HttpError(`connection "${connection.id}": OAuth token request was refused (${res.status}${reason}); check auth.clientId, auth.clientSecret and the grant's ${refreshToken ? 'auth.refreshToken' : auth.username !== undefined ? 'auth.username/password' : 'client credentials'}`, res.status || 401, null);
    }
    if (!body || typeof body.access_token !== 'string') {
      // A 2xx that is not a token: a sign-in page, a proxy, a URL that is not the token endpoint.
      throw new HttpError(`connection "${connection.id}": POST ${tokenUrl} answered ${res.status} without an access_token; is it the instance's OAuth token endpoint (baseUrl + /oauth_token.do, or auth.tokenUrl)?`, 502, null);
    }
    if (typeof body.refresh_token === 'string') refreshToken = body.refresh_token;
    const expiresIn = Number(body.expires_in ?? 1800);
    return { accessToken: body.access_token, expiresAt: deps.now() + Math.max(0, expiresIn - 60) * 1000 };
  }

  return {
    async headers() {
      if (!cached || deps.now() >= cached.expiresAt) {
        // One token request at a time, however many calls are waiting for it.
        pending ??= fetchToken().finally(() => {
          pending = null;
        });
        cached = await pending;
      }
      return { authorization: `Bearer ${cached.accessToken}` };
    },
    invalidate() {
      const had = cached !== null;
      cached = null;
      return had;
    },
  };
}
