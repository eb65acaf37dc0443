// Conflicts between tools, for the ops engineer: list them, and resolve an open one with an outcome and
// a rationale. The resolution goes through the engine (a decision or a transition) and the audit log.
import type { FastifyPluginAsync } from 'fastify';
import { apiError } from '../../errors.ts';
import { resolveConflict } from '../../pipeline/conflicts.ts';
import type { ConflictRecord, ConflictStatus } from '../../store/port.ts';
import { READERS } from '../plugins/auth.ts';
import { anyObject, problemRef } from '../schemas/common.ts';
import type { PipelineRouteDeps } from './changes-write.ts';

const conflictSchema = {
  type: 'object',
  required: ['id', 'changeId', 'kind', 'status', 'versions', 'resolution', 'createdAt', 'resolvedAt'],
  properties: {
    id: { type: 'string' },
    changeId: { type: 'string' },
    kind: { type: 'string', description: '"decision" (two tools decided differently) or "state" (both sides changed since the last sync)' },
    status: { enum: ['open', 'resolved'] },
    versions: { type: 'array', items: anyObject, description: 'each side\'s view: connectionId, sourceTool, value, actor, at' },
    resolution: { type: ['object', 'null'], additionalProperties: true },
    createdAt: { type: 'string' },
    resolvedAt: { type: ['string', 'null'] },
  },
} as const;

function view(c: ConflictRecord) {
  return { id: c.id, changeId: c.changeId, kind: c.kind, status: c.status, versions: c.versions, resolution: c.resolution, createdAt: c.createdAt, resolvedAt: c.resolvedAt };
}

export function conflictRoutes(deps: PipelineRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { status?: ConflictStatus; changeId?: string; cursor?: string; limit: number } }>('/api/v1/conflicts', {
      config: { roles: READERS },
      schema: {
        summary: 'Conflicts between tools, newest first',
        tags: ['conflicts'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { enum: ['open', 'resolved'] },
            changeId: { type: 'string' },
            cursor: { type: 'string', description: 'the `next` value of the previous page' },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
          },
        },
        response: { 200: { type: 'object', required: ['items', 'next'], properties: { items: { type: 'array', items: conflictSchema }, next: { type: ['string', 'null'] } } }, 400: problemRef },
      },
    }, async (request) => {
      const q = request.query;
      const page = await deps.store.conflicts.list({ ...(q.status ? { status: q.status } : {}), ...(q.changeId ? { changeId: q.changeId } : {}) }, { limit: q.limit, cursor: q.cursor ?? null });
      return { items: page.items.map(view), next: page.next };
    });

    app.post<{ Params: { id: string }; Body: { outcome: string; rationale: string } }>('/api/v1/conflicts/:id/resolve', {
      config: { roles: ['admin'] },
      schema: {
        summary: 'Resolve an open conflict: the outcome is applied through the engine and audited',
        tags: ['conflicts'],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['outcome', 'rationale'],
          properties: {
            outcome: { type: 'string', minLength: 1, description: 'decision conflicts: "approve" or "reject"; state conflicts: the state that wins (one of the versions\' values)' },
            rationale: { type: 'string', minLength: 3, maxLength: 5000, description: 'why; recorded in the audit log' },
          },
        },
        response: { 200: conflictSchema, 404: problemRef, 409: problemRef, 422: problemRef },
      },
    }, async (request) => {
      const ctx = await deps.context();
      const conflict = await deps.store.conflicts.get(request.params.id);
      if (!conflict) throw apiError('conflict-not-found', `no conflict ${request.params.id}`);
      const { outcome, rationale } = request.body;
      const allowed = conflict.kind === 'decision' ? ['approve', 'reject'] : conflict.versions.map((v) => String(v.value));
      if (!allowed.includes(outcome)) {
        throw apiError('validation-failed', `body field "outcome" must be one of ${allowed.map((a) => `"${a}"`).join(', ')} for this ${conflict.kind} conflict`, { extra: { field: 'outcome', in: 'body' } });
      }
      const result = await resolveConflict(ctx, conflict.id, { outcome: outcome as 'approve', by: request.principal!.actor, rationale }, { correlation: request.id });
      if (!result.ok) {
        if (result.code === 'not-found') throw apiError('conflict-not-found', result.reason);
        if (result.code === 'already-resolved') throw apiError('conflict', result.reason);
        throw apiError('unprocessable', `the outcome could not be applied: ${result.reason}`);
      }
      return view(result.conflict);
    });
  };
}
