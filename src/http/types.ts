// What the hub adds to Fastify's request and route config. Route plugins written elsewhere (webhooks,
// gates, decisions, conflicts) rely on these: `request.rawBody` for signature checks on the exact bytes,
// `request.principal` for who called, and `config: { roles }` on every /api/v1 route.
import type { Role } from '../store/port.ts';

export interface Principal {
  tokenId: string;
  name: string;
  /** The person or system the token acts as (recorded as the actor of decisions). */
  actor: string;
  roles: Role[];
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received (empty Buffer when there was none). */
    rawBody?: Buffer;
    /** Set on routes that declare roles, once the bearer token checked out. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Roles allowed to call the route. Required on every /api/v1 route (the app refuses to boot otherwise). */
    roles?: readonly Role[];
  }
}
