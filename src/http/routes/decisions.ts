// POST /api/v1/changes/:id/decisions: a decision made in the hub. An approver decides as the token's
// actor (the engine checks eligibility and separation of duties). An admin may record an override, but
// only while the system of record is unreachable (its circuit is open), with a justification; it is
// logged as an override and the system of record is brought up to date when it is back. An override
// bypasses the system of record, not the policy: the admin must still be an eligible approver.
import type { FastifyPluginAsync } from 'fastify';
import type { Decision } from '../../core/types.ts';
import { apiError } from '../../errors.ts';
import { runCommand } from '../../pipeline/commands.ts';
import { systemOfRecord } from '../../pipeline/context.ts';
import { stepForDecision } from '../../pipeline/events.ts';
import { loadChangeView } from '../change-view.ts';
import { changeRef, decisionSchema } from '../schemas/change.ts';
import { problemRef } from '../schemas/common.ts';
import type { PipelineRouteDeps } from './changes-write.ts';

interface DecisionBody {
  outcome: 'approve' | 'reject';
  kind: 'normal' | 'override' | 'risk-acceptance';
  rationale?: string | null;
  justification?: string;
  onBehalfOf?: string | null;
  stepId?: string;
}

const MIN_JUSTIFICATION = 10;

export function decisionRoutes(deps: PipelineRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Params: { id: string }; Body: DecisionBody }>('/api/v1/changes/:id/decisions', {
      config: { roles: ['approver', 'admin'] },
      schema: {
        summary: 'Record a decision in the hub (approvers), or an override while the system of record is down (admins)',
        tags: ['changes'],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['outcome'],
          properties: {
            outcome: { enum: ['approve', 'reject'] },
            kind: { enum: ['normal', 'override', 'risk-acceptance'], default: 'normal' },
            rationale: { type: ['string', 'null'], maxLength: 5000 },
            justification: { type: 'string', maxLength: 5000, description: `required for overrides and risk acceptances (at least ${MIN_JUSTIFICATION} characters)` },
            onBehalfOf: { type: ['string', 'null'], description: 'the approver this decision stands in for (delegation)' },
            stepId: { type: 'string', description: 'default: the step open now' },
          },
        },
        response: { 201: { type: 'object', required: ['change', 'decision'], properties: { change: changeRef, decision: decisionSchema } }, 404: problemRef, 409: problemRef, 422: problemRef },
      },
    }, async (request, reply) => {
      const ctx = await deps.context();
      const principal = request.principal!;
      const body = request.body;
      const record = await deps.store.changes.get(request.params.id);
      if (!record) throw apiError('change-not-found', `no change ${request.params.id}`);

      if (body.kind === 'override') {
        if (!principal.roles.includes('admin')) throw apiError('forbidden', 'an override needs the admin role');
        const sor = systemOfRecord(ctx);
        if (!sor) throw apiError('conflict', 'an override is only for when the system of record is down, and no connection is marked systemOfRecord');
        const state = sor.breaker.state();
        if (state !== 'open') {
          throw apiError('conflict', `an override is only allowed while ${sor.settings.id} is unreachable; its circuit is ${state}: decide there instead`, { extra: { field: 'kind' } });
        }
      } else if (!principal.roles.includes('approver')) {
        throw apiError('forbidden', `a ${body.kind} decision needs the approver role (admins may only record overrides)`);
      }
      const justification = body.justification?.trim() ?? '';
      if (body.kind !== 'normal' && justification.length < MIN_JUSTIFICATION) {
        throw apiError('validation-failed', `body field "justification" is required for ${body.kind === 'override' ? 'an override' : 'a risk acceptance'} (at least ${MIN_JUSTIFICATION} characters saying why)`, { extra: { field: 'justification', in: 'body' } });
      }

      let decision: Decision | null = null;
      const outcome = await runCommand(ctx, record.id, (current) => {
        if (!current) return { refuse: `no change ${record.id}`, code: 'change-not-found' };
        const step = body.stepId ? current.steps.find((s) => s.id === body.stepId) : stepForDecision(current);
        if (body.stepId && !step) return { refuse: `change ${record.id} has no step ${body.stepId}`, code: 'step-not-found' };
        decision = {
          outcome: body.outcome,
          actor: principal.actor,
          rationale: body.kind === 'normal' ? (body.rationale ?? null) : [justification, body.rationale].filter(Boolean).join(' — '),
          sourceTool: 'hub',
          at: ctx.now().toISOString(),
          onBehalfOf: body.onBehalfOf ?? null,
          stepId: step?.id ?? null,
          kind: body.kind,
          expiresAt: null,
        };
        return { type: 'decide', decision };
      }, { correlation: request.id });
      if (!outcome.ok) {
        if (outcome.code === 'change-not-found') throw apiError('change-not-found', outcome.reason);
        // The actor comes from the token, not the request: say where it is set when it names nobody.
        const hint = / is not in the directory /.test(outcome.reason)
          ? ` (${principal.actor} is the actor of this API token: create the token with --actor <the person's id in the directory>)`
          : '';
        throw apiError('unprocessable', `the decision was not accepted: ${outcome.reason}${hint}`, { extra: { reason: outcome.code } });
      }
      const change = await loadChangeView(deps.store, record.id);
      // The decision as the engine recorded it (it fills in delegation and expiry).
      const made = decision as Decision | null;
      const recorded = change?.decisions.findLast((d) => d.actor === made?.actor && d.at === made?.at) ?? made;
      return reply.code(201).send({ change, decision: recorded });
    });
  };
}
