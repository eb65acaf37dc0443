// Reading changes: the list with filters and cursor pagination, one change with its links, and its
// audit transitions. Writing goes through the pipeline's routes (decisions, gates) and connectors.
import type { FastifyPluginAsync } from 'fastify';
import type { ChangeRecord, LinkRecord, Store } from '../../store/port.ts';
import { apiError } from '../../errors.ts';
import { READERS } from '../plugins/auth.ts';
import { anyObject, problemRef } from '../schemas/common.ts';

const summaryProperties = {
  id: { type: 'string' },
  version: { type: 'integer' },
  state: { type: 'string' },
  tier: { type: ['string', 'null'] },
  team: { type: ['string', 'null'] },
  environment: { type: ['string', 'null'] },
  type: { type: ['string', 'null'] },
  title: { type: ['string', 'null'] },
  createdAt: { type: 'string', format: 'date-time' },
  updatedAt: { type: 'string', format: 'date-time' },
} as const;
const changeSummary = { type: 'object', required: Object.keys(summaryProperties), properties: summaryProperties } as const;

// A link's `data` holds connector facts (callback URLs and the like) that are not for API readers.
const linkSchema = {
  type: 'object',
  properties: {
    connectionId: { type: 'string' },
    kind: { type: 'string' },
    externalId: { type: 'string' },
    url: { type: ['string', 'null'] },
    versionSeen: { type: ['string', 'null'] },
    updatedAt: { type: 'string' },
  },
} as const;

const transitionSchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    changeId: { type: ['string', 'null'] },
    action: { type: 'string' },
    actor: { type: 'string' },
    sourceTool: { type: 'string' },
    at: { type: 'string' },
    before: {},
    after: {},
    rationale: { type: ['string', 'null'] },
    correlation: { type: ['string', 'null'] },
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
} as const;

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } } as const;

function summary(c: ChangeRecord) {
  const title = c.data.title;
  return {
    id: c.id, version: c.version, state: c.state, tier: c.tier, team: c.team, environment: c.environment, type: c.type,
    title: typeof title === 'string' ? title : null, createdAt: c.createdAt, updatedAt: c.updatedAt,
  };
}

export function changeRoutes(deps: { store: Store }): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { state?: string; tier?: string; team?: string; since?: string; cursor?: string; limit: number } }>('/api/v1/changes', {
      config: { roles: READERS },
      schema: {
        summary: 'List changes, newest first',
        tags: ['changes'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            state: { type: 'string', description: 'e.g. pending-approval' },
            tier: { type: 'string', description: 'risk tier, e.g. high' },
            team: { type: 'string' },
            since: { type: 'string', format: 'date-time', description: 'changes updated at or after this time' },
            cursor: { type: 'string', description: 'the `next` value of the previous page' },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
          },
        },
        response: {
          200: { type: 'object', required: ['items', 'next'], properties: { items: { type: 'array', items: changeSummary }, next: { type: ['string', 'null'] } } },
          400: problemRef,
        },
      },
    }, async (request) => {
      const { cursor, limit, ...filter } = request.query;
      const page = await deps.store.changes.list(filter, { limit, cursor: cursor ?? null });
      return { items: page.items.map(summary), next: page.next };
    });

    app.get<{ Params: { id: string } }>('/api/v1/changes/:id', {
      config: { roles: READERS },
      schema: {
        summary: 'One change: the canonical change (plan, steps, decisions, risk) and its links',
        tags: ['changes'],
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: [...Object.keys(summaryProperties), 'change', 'links'],
            properties: { ...summaryProperties, change: anyObject, links: { type: 'array', items: linkSchema } },
          },
          404: problemRef,
        },
      },
    }, async (request) => {
      const change = await deps.store.changes.get(request.params.id);
      if (!change) throw apiError('change-not-found', `no change with id "${request.params.id}"`);
      const links: LinkRecord[] = await deps.store.links.listForChange(change.id);
      // The pipeline keeps its not-yet-queued effects (the outbox) beside the change; that is machinery, not the change.
      const { outbox: _outbox, ...data } = change.data;
      return { ...summary(change), change: data, links };
    });

    app.get<{ Params: { id: string } }>('/api/v1/changes/:id/transitions', {
      config: { roles: READERS },
      schema: {
        summary: 'The audit transitions of one change, oldest first',
        tags: ['changes', 'audit'],
        params: idParams,
        response: {
          200: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: transitionSchema } } },
          404: problemRef,
        },
      },
    }, async (request) => {
      const change = await deps.store.changes.get(request.params.id);
      if (!change) throw apiError('change-not-found', `no change with id "${request.params.id}"`);
      return { items: await deps.store.audit.listForChange(change.id) };
    });
  };
}
