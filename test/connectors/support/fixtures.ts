// Loads connectors/<id>/fixtures/deliveries/<case>/ (case.json + body.json) and builds what the pipeline
// would hand a connector: the connection (secrets wrapped as Secret), the delivery, and a ParseContext
// whose normalize runs the real mapping files.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConnectionMappings, type ConnectionMappings } from '../../../src/mapping/index.ts';
import type { ConnectionSettings, InboundDelivery, Json, ParseContext, Secret } from '../../../src/sdk/index.ts';

export const root = join(import.meta.dirname, '..', '..', '..');
export const mappingsDir = join(root, 'mappings');

export interface FixtureCase {
  name: string;
  dir: string;
  source: string;
  connection: ConnectionSettings;
  delivery: InboundDelivery;
  expect: {
    verify?: { ok: boolean; reason?: string };
    dedupeKey?: string | null;
    eventName?: string | null;
    parse?: unknown;
  };
}

export function secret(value: string): Secret {
  return { reveal: () => value, toString: () => '[redacted]', toJSON: () => '[redacted]' };
}

const secretKeys = new Set(['secret', 'password', 'token', 'privateKey']);

function wrapSecrets(obj: Record<string, unknown> | null | undefined): Record<string, never> | null {
  if (!obj) return null;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'secrets' && Array.isArray(v)) out[k] = v.map((s) => secret(String(s)));
    else out[k] = secretKeys.has(k) && typeof v === 'string' ? secret(v) : v;
  }
  return out as Record<string, never>;
}

export function connectionFor(connector: string, overrides: Partial<Record<keyof ConnectionSettings, unknown>> = {}): ConnectionSettings {
  return {
    id: `${connector}-test`,
    connector,
    baseUrl: (overrides.baseUrl as string | undefined) ?? null,
    auth: wrapSecrets(overrides.auth as Record<string, unknown> | undefined),
    webhook: wrapSecrets(overrides.webhook as Record<string, unknown> | undefined),
    mappings: (overrides.mappings as Record<string, string> | undefined) ?? {},
    reconcile: null,
    rateLimit: null,
    options: (overrides.options as Record<string, Json> | undefined) ?? {},
  };
}

export async function fixtureCases(connector: string): Promise<FixtureCase[]> {
  const base = join(root, 'connectors', connector, 'fixtures', 'deliveries');
  const names = (await readdir(base, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  const cases: FixtureCase[] = [];
  for (const name of names) {
    const dir = join(base, name);
    const spec = JSON.parse(await readFile(join(dir, 'case.json'), 'utf8')) as {
      source: string;
      connection?: Record<string, unknown>;
      receivedAt: string;
      headers: Record<string, string>;
      expect: FixtureCase['expect'];
    };
    cases.push({
      name,
      dir,
      source: spec.source,
      connection: connectionFor(connector, spec.connection ?? {}),
      delivery: { rawBody: await readFile(join(dir, 'body.json')), headers: spec.headers, receivedAt: new Date(spec.receivedAt) },
      expect: spec.expect,
    });
  }
  return cases;
}

export async function mappingsFor(connection: ConnectionSettings, kinds: readonly string[]): Promise<ConnectionMappings> {
  const loaded = await loadConnectionMappings(mappingsDir, connection, kinds);
  if (!loaded.ok) throw new Error(`mappings for ${connection.id} do not load: ${JSON.stringify(loaded.errors)}`);
  return loaded.mappings;
}

export async function parseContext(connection: ConnectionSettings, kinds: readonly string[]): Promise<ParseContext> {
  const mappings = await mappingsFor(connection, kinds);
  return { connection, normalize: (kind, payload) => mappings.normalize(kind, payload) };
}
