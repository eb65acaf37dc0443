// Builds the hub's HTTP app without listening (tests call inject(); src/server.ts listens). Everything
// cross-cutting lives here as hooks: problem JSON errors, raw-body capture, bearer auth with roles,
// metrics, OpenAPI. Route plugins only declare schemas, roles and handlers.
import { randomUUID } from 'node:crypto';
import fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { HubConfig } from './config/types.ts';
import type { Logger } from './log.ts';
import type { Queue } from './queue/port.ts';
import type { Store } from './store/port.ts';
import { installAuth } from './http/plugins/auth.ts';
import { installMetrics } from './http/plugins/metrics.ts';
import { installProblems } from './http/plugins/problems.ts';
import { auditRoutes } from './http/routes/audit.ts';
import { changeRoutes } from './http/routes/changes.ts';
import { connectionRoutes } from './http/routes/connections.ts';
import { healthRoutes } from './http/routes/health.ts';
import { changeSchema, changeSummarySchema } from './http/schemas/change.ts';
import { problemSchema } from './http/schemas/common.ts';
import './http/types.ts';

export interface AppDeps {
  config: HubConfig;
  store: Store;
  queue: Queue;
  log: Logger;
  /** Route plugins from elsewhere (the pipeline's webhooks, decisions, gates, conflicts). */
  routes?: FastifyPluginAsync[];
  /** Pipeline health for /readyz and /api/v1/connections. */
  health?: () => Promise<Record<string, unknown>>;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    bodyLimit: deps.config.server.bodyLimitBytes,
    // Request ids are ours (logs, problem bodies); a client-sent id is not trusted.
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    ajv: {
      // Unknown query/body fields are refused with a 400 naming them, not silently dropped.
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
  });

  app.addSchema(problemSchema);
  app.addSchema(changeSchema);
  app.addSchema(changeSummarySchema);
  installProblems(app);
  // Callback-style hooks where nothing is awaited: they run on every request, webhooks included, and an
  // async hook costs a promise and a microtask turn each.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  installAuth(app, { store: deps.store });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'approval-hub',
        description: 'Keeps deployment and change approval state in sync across ServiceNow, Jira, Azure DevOps, PagerDuty, SCIM and GitHub/GitLab. Errors are RFC 9457 problem JSON.',
        version: '0.1.0',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'A token from `approval-hub token create`' } } },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });

  // Shared as app.metrics so route plugins (webhook ingest) put their counters on the same /metrics.
  app.decorate('metrics', installMetrics(app));
  await app.register(healthRoutes({ store: deps.store, queue: deps.queue, health: deps.health }));
  await app.register(changeRoutes({ store: deps.store }));
  await app.register(auditRoutes({ store: deps.store }));
  await app.register(connectionRoutes({ config: deps.config, health: deps.health }));
  for (const plugin of deps.routes ?? []) await app.register(plugin);

  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  await app.ready();
  return app;
}

export interface ShutdownParts {
  app: FastifyInstance;
  pipeline?: { stop(): Promise<void> } | null;
  queue?: Queue | null;
  store?: Store | null;
  log: Logger;
}

/**
 * Graceful shutdown in dependency order: stop accepting requests and finish the ones in flight
 * (Fastify answers 503 to requests arriving meanwhile), let the queue finish the jobs it is running
 * (they still need the pipeline's connections), stop the pipeline (reconciliation, connection rate
 * limiters), then close the store. Each step runs even if an earlier one failed.
 */
export async function closeGracefully(parts: ShutdownParts): Promise<boolean> {
  let ok = true;
  const step = async (name: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      ok = false;
      parts.log.error({ err, step: name }, 'shutdown step failed');
    }
  };
  await step('http', () => parts.app.close());
  if (parts.queue) await step('queue', () => parts.queue!.close());
  if (parts.pipeline) await step('pipeline', () => parts.pipeline!.stop());
  if (parts.store) await step('store', () => parts.store!.close());
  return ok;
}
