// Builds a real hub app (in-memory SQLite store, in-memory embedded queue) with captured logs.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { HubConfig } from '../../src/config/types.ts';
import { createToken } from '../../src/http/plugins/auth.ts';
import { createLogger } from '../../src/log.ts';
import { openQueue } from '../../src/queue/index.ts';
import type { Queue } from '../../src/queue/port.ts';
import { createPipeline } from '../../src/pipeline/index.ts';
import { openStore } from '../../src/store/index.ts';
import type { Role, Store } from '../../src/store/port.ts';

export interface TestHub {
  app: FastifyInstance;
  store: Store;
  queue: Queue;
  config: HubConfig;
  /** Every log line written so far (raw JSON text). */
  logs: () => string;
  token: (roles: Role[], name?: string) => Promise<string>;
  close: () => Promise<void>;
}

const repo = join(import.meta.dirname, '..', '..');
/** The repository's policy and mappings, so the pipeline's routes have what they load. */
export const repoFiles = `policy: ${join(repo, 'config', 'policy.yaml')}\nmappingsDir: ${join(repo, 'mappings')}\n`;

export function writeConfig(yaml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'hub-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const file = join(dir, 'hub.yaml');
  writeFileSync(file, yaml);
  return file;
}

export async function testHub(opts: {
  yaml?: string;
  env?: NodeJS.ProcessEnv;
  routes?: FastifyPluginAsync[];
  health?: () => Promise<Record<string, unknown>>;
  /** Also mount the real pipeline's routes and health (every route the hub serves). */
  pipeline?: boolean;
} = {}): Promise<TestHub> {
  const file = writeConfig(opts.yaml ?? `store: "sqlite::memory:"\nserver: { bodyLimit: 4kb }\n${repoFiles}`);
  const config = loadConfig({ file, env: opts.env ?? {} });
  let captured = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      captured += chunk.toString();
      cb();
    },
  });
  const log = createLogger({ level: 'debug', destination });
  const store = await openStore('sqlite::memory:');
  const queue = await openQueue('embedded', { sqlitePath: ':memory:' });
  const pipeline = opts.pipeline ? createPipeline({ config, store, queue, log }) : null;
  const routes = [...(opts.routes ?? []), ...(pipeline?.routes ?? [])];
  const health = opts.health ?? (pipeline ? () => pipeline.health() : undefined);
  const app = await buildApp({ config, store, queue, log, routes, health });
  let n = 0;
  return {
    app,
    store,
    queue,
    config,
    logs: () => captured,
    token: async (roles, name) => (await createToken(store, { name: name ?? `t${++n}-${roles.join('-')}`, roles })).secret,
    close: async () => {
      await app.close();
      await pipeline?.stop();
      await queue.close();
      await store.close();
    },
  };
}
