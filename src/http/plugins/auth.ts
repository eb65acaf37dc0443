// Bearer tokens with roles. Tokens are stored as SHA-256 hashes (store.tokens); the secret is shown once,
// when the CLI creates it. Every /api/v1 route must declare `config: { roles: [...] }`: a route without
// roles stops the app at boot, so nothing under the API is public by accident.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Role, Store, TokenRecord } from '../../store/port.ts';
import { apiError } from '../../errors.ts';
import type { Principal } from '../types.ts';

export const ROLES: readonly Role[] = ['viewer', 'approver', 'admin', 'auditor', 'integration'];
/** Everyone who reads the hub's records (integration tokens are for CI systems and webhooks). */
export const READERS: readonly Role[] = ['viewer', 'approver', 'admin', 'auditor'];

const REALM = 'Bearer realm="approval-hub"';

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Creates a token; the returned secret is not stored anywhere and cannot be recovered. */
export async function createToken(store: Store, input: { name: string; roles: Role[]; actor?: string }): Promise<{ token: TokenRecord; secret: string }> {
  const secret = `ah_${randomBytes(32).toString('base64url')}`;
  const token = await store.tokens.create({
    id: `tok_${randomUUID().replace(/-/g, '').slice(0, 16)}`,
    name: input.name,
    hash: hashToken(secret),
    roles: input.roles,
    actor: input.actor ?? input.name,
  });
  return { token, secret };
}

export interface RegisteredRoute {
  method: string;
  url: string;
  /** Declared roles; null for public routes (health, metrics, docs, webhooks: those verify signatures). */
  roles: readonly Role[] | null;
  /** Left out of the OpenAPI document (swagger-ui's own static routes). */
  hidden: boolean;
}

const registries = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route of an app built by buildApp, with its roles: what the route × role test walks. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return registries.get(app) ?? [];
}

export function installAuth(app: FastifyInstance, deps: { store: Store }): void {
  const routes: RegisteredRoute[] = [];
  registries.set(app, routes);
  async function authenticate(request: FastifyRequest): Promise<void> {
    const roles = request.routeOptions.config.roles ?? [];
    const header = request.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) {
      throw apiError('unauthorized', header ? 'the Authorization header must be "Bearer <token>"' : 'send "Authorization: Bearer <token>" (create one with `approval-hub token create`)', {
        headers: { 'www-authenticate': REALM },
      });
    }
    const token = await deps.store.tokens.findByHash(hashToken(m[1]!));
    if (!token) {
      throw apiError('invalid-token', 'the bearer token is not known to this hub', {
        headers: { 'www-authenticate': `${REALM}, error="invalid_token", error_description="unknown token"` },
      });
    }
    if (token.revokedAt) {
      throw apiError('token-revoked', `the bearer token "${token.name}" was revoked at ${token.revokedAt}`, {
        headers: { 'www-authenticate': `${REALM}, error="invalid_token", error_description="revoked token"` },
      });
    }
    if (!token.roles.some((r) => roles.includes(r))) {
      throw apiError('forbidden', `this route needs one of the roles ${roles.join(', ')}; the token "${token.name}" has ${token.roles.join(', ') || 'none'}`);
    }
    const principal: Principal = { tokenId: token.id, name: token.name, actor: token.actor, roles: token.roles };
    request.principal = principal;
  }
  app.addHook('onRoute', (route) => {
    const hidden = Boolean((route.schema as { hide?: boolean } | undefined)?.hide);
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routes.push({ method, url: route.url, roles: route.config?.roles ?? null, hidden });
    }
    const roles = route.config?.roles;
    // Only routes that declare roles run the check: webhooks and probes, called thousands of times a
    // second, do not pay for a hook that has nothing to do for them. First, before the route's own hooks.
    // (Fastify's HEAD route for a GET comes with the GET's hooks, this one already among them.)
    const hooks = [route.onRequest ?? []].flat();
    if (Array.isArray(roles) && roles.length > 0 && !hooks.includes(authenticate)) route.onRequest = [authenticate, ...hooks];
    if (!route.url.startsWith('/api/v1')) return;
    if (!Array.isArray(roles) || roles.length === 0) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no roles: add config: { roles: [...] } (one of ${ROLES.join(', ')})`);
    }
    const unknown = roles.filter((r) => !ROLES.includes(r));
    if (unknown.length > 0) throw new Error(`route ${String(route.method)} ${route.url} declares unknown roles: ${unknown.join(', ')}`);
    // The OpenAPI document says who may call it.
    const schema = (route.schema ??= {}) as { security?: unknown; description?: string; response?: Record<string, unknown> };
    schema.security = [{ bearerAuth: [] }];
    // onRoute runs again for the HEAD route Fastify adds to each GET, with the GET's schema: say it once.
    const rolesLine = `Roles: ${roles.join(', ')}.`;
    if (!schema.description?.endsWith(rolesLine)) schema.description = `${schema.description ? `${schema.description}\n\n` : ''}${rolesLine}`;
    schema.response = { ...(schema.response ?? {}), 401: { $ref: 'Problem#' }, 403: { $ref: 'Problem#' } };
  });
}
