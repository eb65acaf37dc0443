// GET /api/v1/audit/verify: walks the whole hash chain and says where it breaks (the CLI's
// `audit verify` does the same offline). Optional checkpoint from an earlier `audit export`.
import type { FastifyPluginAsync } from 'fastify';
import { verifyChain } from '../../audit/chain.ts';
import type { Store } from '../../store/port.ts';
import { problemRef } from '../schemas/common.ts';

const checkpointSchema = { type: ['object', 'null'], properties: { seq: { type: 'integer' }, hash: { type: 'string' } } } as const;

export function auditRoutes(deps: { store: Store }): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { checkpointSeq?: number; checkpointHash?: string } }>('/api/v1/audit/verify', {
      config: { roles: ['auditor', 'admin'] },
      schema: {
        summary: 'Verify the audit hash chain',
        description: 'Reads every transition and checks sequence numbers and hashes. With checkpointSeq and checkpointHash (from `approval-hub audit export`) it also detects truncation and rewrites after that point.',
        tags: ['audit'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          dependencies: { checkpointSeq: ['checkpointHash'], checkpointHash: ['checkpointSeq'] },
          properties: {
            checkpointSeq: { type: 'integer', minimum: 1 },
            checkpointHash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['ok', 'checked', 'head', 'problems', 'problemsTruncated'],
            properties: {
              ok: { type: 'boolean' },
              checked: { type: 'integer' },
              head: checkpointSchema,
              problems: {
                type: 'array',
                items: { type: 'object', properties: { seq: { type: 'integer' }, kind: { type: 'string' }, detail: { type: 'string' } } },
              },
              problemsTruncated: { type: 'boolean' },
            },
          },
          400: problemRef,
        },
      },
    }, async (request) => {
      const { checkpointSeq, checkpointHash } = request.query;
      const checkpoint = checkpointSeq !== undefined && checkpointHash !== undefined ? { seq: checkpointSeq, hash: checkpointHash } : null;
      return verifyChain(deps.store.audit.scan(), { checkpoint });
    });
  };
}
