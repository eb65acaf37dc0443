// The generic pipeline gate, for CI systems without a native one: the CI job creates a gate for a
// change (an existing one, or a new one described in the same call) and polls it until it says
// approved or rejected. A gate is a link from the change to the hub itself, so it lives in the store
// like every other record the change is tied to.
import { createHash, randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { Change } from '../../core/types.ts';
import { apiError } from '../../errors.ts';
import { changeOf, newChangeId } from '../../pipeline/canonical.ts';
import type { ChangeRecord, LinkRecord } from '../../store/port.ts';
import { READERS } from '../plugins/auth.ts';
import { problemRef } from '../schemas/common.ts';
import { changeInputSchema, submitChange, type ChangeInput, type PipelineRouteDeps } from './changes-write.ts';

/** Gates are links on this pseudo-connection. */
export const GATE_CONNECTION = 'hub';
const GATE_KIND = 'gate';

const APPROVED = new Set(['approved', 'emergency-approved', 'implementing', 'implemented', 'review-pending', 'closed']);
const STOPPED = new Set(['rejected', 'expired', 'cancelled', 'rolled-back']);

const gateSchema = {
  type: 'object',
  required: ['id', 'changeId', 'state', 'changeState', 'reason'],
  properties: {
    id: { type: 'string' },
    changeId: { type: 'string' },
    name: { type: ['string', 'null'] },
    state: { enum: ['pending', 'approved', 'rejected'], description: 'pending until the change is approved, or rejected (also when it expired or was cancelled)' },
    changeState: { type: 'string' },
    reason: { type: ['string', 'null'] },
    url: { type: 'string' },
    createdAt: { type: 'string' },
  },
} as const;

function reasonFor(change: Change): string | null {
  if (APPROVED.has(change.state)) {
    const last = [...change.decisions].reverse().find((d) => d.outcome === 'approve');
    return last ? `approved by ${last.actor} in ${last.sourceTool}${last.rationale ? `: ${last.rationale}` : ''}` : `change is ${change.state}`;
  }
  if (change.state === 'rejected') {
    const last = [...change.decisions].reverse().find((d) => d.outcome === 'reject');
    return last ? `rejected by ${last.actor} in ${last.sourceTool}${last.rationale ? `: ${last.rationale}` : ''}` : 'change was rejected';
  }
  if (STOPPED.has(change.state)) return `change is ${change.state}`;
  const open = change.steps.filter((s) => s.state === 'open').map((s) => s.name);
  return open.length ? `waiting for ${open.join(', ')}` : `change is ${change.state}`;
}

function gateView(link: LinkRecord, record: ChangeRecord, publicUrl: string) {
  const change = changeOf(record);
  const state = APPROVED.has(change.state) ? 'approved' : STOPPED.has(change.state) ? 'rejected' : 'pending';
  return {
    id: link.externalId,
    changeId: record.id,
    name: typeof link.data.name === 'string' ? link.data.name : null,
    state,
    changeState: change.state,
    reason: reasonFor(change),
    url: `${publicUrl.replace(/\/$/, '')}/api/v1/gates/${link.externalId}`,
    createdAt: typeof link.data.createdAt === 'string' ? link.data.createdAt : link.updatedAt,
  };
}

export function gateRoutes(deps: PipelineRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: { changeId?: string; change?: ChangeInput; name?: string; externalId?: string } }>('/api/v1/gates', {
      config: { roles: ['integration', 'admin'] },
      schema: {
        summary: 'Create a gate a CI pipeline polls until the change is approved or rejected',
        tags: ['gates'],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            changeId: { type: 'string', minLength: 1, description: 'an existing change' },
            change: { ...changeInputSchema, description: 'or a new change to request' },
            name: { type: 'string', maxLength: 200, description: 'what waits, e.g. "deploy payments to production"' },
            externalId: { type: 'string', minLength: 1, maxLength: 200, description: 'the CI run id: creating a gate again with it returns the same gate' },
          },
          oneOf: [{ required: ['changeId'] }, { required: ['change'] }],
        },
        response: { 200: gateSchema, 201: gateSchema, 404: problemRef, 422: problemRef },
      },
    }, async (request, reply) => {
      const ctx = await deps.context();
      const principal = request.principal!;
      const body = request.body;
      const gateId = body.externalId
        ? `gate-${createHash('sha256').update(`${principal.tokenId}\n${body.externalId}`).digest('hex').slice(0, 20)}`
        : `gate-${randomUUID().replaceAll('-', '').slice(0, 20)}`;
      const existing = await deps.store.links.find(GATE_CONNECTION, GATE_KIND, gateId);
      if (existing) {
        const record = await deps.store.changes.get(existing.changeId);
        if (record) return reply.code(200).send(gateView(existing, record, ctx.config.publicUrl));
      }
      let changeId = body.changeId;
      if (changeId) {
        if (!(await deps.store.changes.get(changeId))) throw apiError('change-not-found', `no change ${changeId}`, { extra: { field: 'changeId' } });
      } else {
        changeId = newChangeId();
        const outcome = await submitChange(ctx, changeId, body.change!, principal.actor, request.id);
        if (!outcome.ok) throw apiError('unprocessable', `the change was not accepted: ${outcome.reason}`, { extra: { reason: outcome.code } });
      }
      const link = await deps.store.links.upsert({
        changeId,
        connectionId: GATE_CONNECTION,
        kind: GATE_KIND,
        externalId: gateId,
        url: null,
        versionSeen: null,
        data: { name: body.name ?? null, createdBy: principal.actor, createdAt: ctx.now().toISOString() },
      });
      const record = (await deps.store.changes.get(changeId))!;
      return reply.code(201).header('location', `/api/v1/gates/${gateId}`).send(gateView(link, record, ctx.config.publicUrl));
    });

    app.get<{ Params: { id: string } }>('/api/v1/gates/:id', {
      config: { roles: [...READERS, 'integration'] },
      schema: {
        summary: 'The state of a gate: pending, approved or rejected (with the reason)',
        tags: ['gates'],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } },
        response: { 200: gateSchema, 404: problemRef },
      },
    }, async (request) => {
      const ctx = await deps.context();
      const link = await deps.store.links.find(GATE_CONNECTION, GATE_KIND, request.params.id);
      const record = link ? await deps.store.changes.get(link.changeId) : null;
      if (!link || !record) throw apiError('gate-not-found', `no gate ${request.params.id}`);
      return gateView(link, record, ctx.config.publicUrl);
    });
  };
}
