// The least a webhook receiver can do, for bench/ingest.ts to measure next to the hub: Fastify, the
// generic connector's own signature check (Standard Webhooks), JSON parsing, a 202 with a new delivery
// id. It stores nothing, queues nothing and processes nothing, so what it reaches on a machine is a
// ceiling for the hub's acknowledgements there, whatever the hub's own design.
import { randomUUID } from 'node:crypto';
import fastify from 'fastify';
import { verifyStandardWebhook } from '../connectors/generic/verify.ts';
import type { ConnectionSettings } from '../src/sdk/index.ts';

const connection: ConnectionSettings = {
  id: 'bench',
  connector: 'generic',
  baseUrl: null,
  auth: null,
  webhook: { secret: process.env.BENCH_WEBHOOK_SECRET ?? '' },
  mappings: {},
  reconcile: null,
  rateLimit: null,
  options: {},
};

const app = fastify({ logger: false });
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.post('/webhooks/bench', async (req, reply) => {
  const rawBody = req.body as Buffer;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
  const verdict = verifyStandardWebhook({ rawBody, headers, receivedAt: new Date() }, connection);
  if (!verdict.ok) return reply.code(401).send({ title: verdict.reason });
  JSON.parse(rawBody.toString('utf8'));
  return reply.code(202).send({ deliveryId: randomUUID(), duplicate: false });
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.stdout.write('listening\n');
