// Reading changes: the list with filters and cursor pagination and one change (in the one change
// representation, src/http/change-view.ts), and a change's audit transitions. Writing goes through the
// pipeline's routes (changes-write, decisions, gates) and connectors.
import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../store/port.ts';
import { TRANSITIONS } from '../../core/lifecycle.ts';
import { apiError } from '../../errors.ts';
import { changeSummaryView, loadChangeView } from '../change-view.ts';
import { READERS } from '../plugins/auth.ts';
import { changeRef, changeSummaryRef } from '../schemas/change.ts';
import { problemRef } from '../schemas/common.ts';

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

/** Every state of the lifecycle: a filter on any other state would silently match nothing. */
const CHANGE_STATES = Object.keys(TRANSITIONS);

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } } as const;

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
            state: { type: 'string', enum: CHANGE_STATES, description: 'e.g. pending-approval' },
            tier: { type: 'string', description: 'risk tier, e.g. high' },
            team: { type: 'string' },
            since: { type: 'string', format: 'date-time', description: 'changes updated at or after this time' },
            cursor: { type: 'string', description: 'the `next` value of the previous page' },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
          },
        },
        response: {
          200: { type: 'object', required: ['items', 'next'], properties: { items: { type: 'array', items: changeSummaryRef }, next: { type: ['string', 'null'] } } },
          400: problemRef,
        },
      },
    }, async (request) => {
      const { cursor, limit, ...filter } = request.query;
      const page = await deps.store.changes.list(filter, { limit, cursor: cursor ?? null });
      return { items: page.items.map(changeSummaryView), next: page.next };
    });

    app.get<{ Params: { id: string } }>('/api/v1/changes/:id', {
      config: { roles: READERS },
      schema: {
        summary: 'One change: its state and how it got there, the approval plan with its decisions, risk, and its links',
        tags: ['changes'],
        params: idParams,
        response: { 200: changeRef, 404: problemRef },
      },
    }, async (request) => {
      const view = await loadChangeView(deps.store, request.params.id);
      if (!view) throw apiError('change-not-found', `no change with id "${request.params.id}"`);
      return view;
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
