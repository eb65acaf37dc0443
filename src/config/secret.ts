// Secrets from ${env:NAME} / ${file:PATH}. The value lives in a closure, not a property, so neither
// JSON.stringify, util.inspect, pino nor a stray template string can print it: only reveal() reads it.
import { inspect } from 'node:util';
import type { Secret } from '../sdk/index.ts';

export const REDACTED = '[redacted]';

const secrets = new WeakSet<object>();

/** `source` says where it came from (e.g. "env:SN_PASSWORD") for messages; it is not secret. */
export function createSecret(value: string, source: string): Secret & { readonly source: string } {
  const s = {
    source,
    reveal: () => value,
    toString: () => REDACTED,
    toJSON: () => REDACTED,
    [inspect.custom]: () => REDACTED,
  };
  Object.freeze(s);
  secrets.add(s);
  return s;
}

export function isSecret(v: unknown): v is Secret {
  return typeof v === 'object' && v !== null && secrets.has(v);
}
