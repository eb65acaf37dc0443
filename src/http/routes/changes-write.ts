// POST /api/v1/changes: a change requested through the API (a CI system or a script), run through the
// engine like one that arrived from a tool: risk, plan, approvals opened in the system of record.
import type { FastifyPluginAsync } from 'fastify';
import { apiError } from '../../errors.ts';
import { changeIdFor, completeChange, newChangeId } from '../../pipeline/canonical.ts';
import { runCommand } from '../../pipeline/commands.ts';
import type { PipelineContext } from '../../pipeline/context.ts';
import type { JsonObject, Store } from '../../store/port.ts';
import { loadChangeView } from '../change-view.ts';
import { changeRef } from '../schemas/change.ts';
import { anyObject, problemRef } from '../schemas/common.ts';

export interface PipelineRouteDeps {
  store: Store;
  context(): Promise<PipelineContext>;
}

const isoTime = { type: 'string', format: 'date-time' } as const;

/** The fields a caller may give for a new change (the canonical change model, src/core/types.ts). */
export const changeInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['title', 'environment'],
  properties: {
    title: { type: 'string', minLength: 1, maxLength: 500 },
    description: { type: ['string', 'null'], maxLength: 20000 },
    type: { enum: ['standard', 'normal', 'emergency'], default: 'normal' },
    environment: { type: 'string', minLength: 1, maxLength: 100 },
    services: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 200 },
    configurationItems: {
      type: 'array',
      maxItems: 200,
      items: { type: 'object', additionalProperties: false, required: ['id', 'name', 'class'], properties: { id: { type: 'string' }, name: { type: 'string' }, class: { type: 'string' } } },
    },
    dataClass: { type: ['string', 'null'] },
    rollback: {
      type: 'object',
      additionalProperties: false,
      properties: { plan: { type: ['string', 'null'] }, complexity: { enum: ['low', 'medium', 'high', null] } },
    },
    artifacts: anyObject,
    requester: { type: 'string', minLength: 1, description: 'person id (email); default: the token\'s actor' },
    team: { type: ['string', 'null'] },
    region: { type: ['string', 'null'] },
    plannedWindow: { type: ['object', 'null'], additionalProperties: false, required: ['start', 'end'], properties: { start: isoTime, end: isoTime } },
    justification: { type: ['string', 'null'], maxLength: 5000 },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    size: { type: ['object', 'null'], additionalProperties: false, required: ['linesChanged', 'filesChanged'], properties: { linesChanged: { type: 'integer', minimum: 0 }, filesChanged: { type: 'integer', minimum: 0 } } },
    links: {
      type: 'array',
      description: 'Records in connected tools this change is about (e.g. the Jira issue to comment on)',
      maxItems: 20,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['connectionId', 'kind', 'externalId'],
        properties: { connectionId: { type: 'string' }, kind: { type: 'string' }, externalId: { type: 'string' }, url: { type: ['string', 'null'] } },
      },
    },
  },
} as const;

export interface ChangeInput {
  links?: { connectionId: string; kind: string; externalId: string; url?: string | null }[];
  requester?: string;
  [field: string]: unknown;
}

/** Creates a change from API input: links first (the submit's effects are routed by them), then submit. */
export async function submitChange(ctx: PipelineContext, id: string, input: ChangeInput, actor: string, correlation: string) {
  const { links = [], ...fields } = input;
  for (const l of links) {
    if (!ctx.connections.has(l.connectionId)) {
      throw apiError('validation-failed', `body field "links.connectionId": no connection "${l.connectionId}" is configured`, { extra: { field: 'links.connectionId' } });
    }
  }
  const change = completeChange(id, { requester: actor, ...fields } as JsonObject, ctx.now());
  for (const l of links) {
    await ctx.store.links.upsert({ changeId: id, connectionId: l.connectionId, kind: l.kind, externalId: l.externalId, url: l.url ?? null, versionSeen: null, data: {} });
  }
  return runCommand(ctx, id, (current) => (current ? { refuse: `change ${id} already exists`, code: 'exists' } : { type: 'submit', change, actor, sourceTool: 'hub' }), { correlation });
}

export function changeWriteRoutes(deps: PipelineRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: ChangeInput; Headers: { 'idempotency-key'?: string } }>('/api/v1/changes', {
      config: { roles: ['integration', 'admin'] },
      schema: {
        summary: 'Request a change: the hub scores risk, builds the approval plan and opens the approvals',
        tags: ['changes'],
        headers: { type: 'object', properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 200, description: 'A retry with the same key returns the change created first' } } },
        body: changeInputSchema,
        response: { 200: changeRef, 201: changeRef, 422: problemRef },
      },
    }, async (request, reply) => {
      const ctx = await deps.context();
      const principal = request.principal!;
      const key = request.headers['idempotency-key'];
      const id = key ? changeIdFor('api', principal.tokenId, key) : newChangeId();
      if (key) {
        const existing = await loadChangeView(deps.store, id);
        if (existing) return reply.code(200).send(existing);
      }
      const outcome = await submitChange(ctx, id, request.body, principal.actor, request.id);
      if (!outcome.ok) throw apiError('unprocessable', `the change was not accepted: ${outcome.reason}`, { extra: { reason: outcome.code } });
      // Read back from the store, so the answer carries what GET /api/v1/changes/:id would: the stored
      // version, links, and the reason of an auto-rejection (recorded only in the audit transitions).
      const view = await loadChangeView(deps.store, id);
      return reply.code(201).header('location', `/api/v1/changes/${id}`).send(view);
    });
  };
}
