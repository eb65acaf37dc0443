// What every CLI command gets: where to write, the environment for the config loader, and a typed
// usage error (exit code 2 with the command's usage).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { HubConfig } from '../config/types.ts';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Environment for loadConfig; undefined means the process's own. */
  env?: NodeJS.ProcessEnv;
}

export const EXIT = { ok: 0, findings: 1, usage: 2 } as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

export const configOption = { config: { type: 'string', short: 'c' } } as const satisfies Options;
export const helpOption = { help: { type: 'boolean', short: 'h' } } as const satisfies Options;

/** node:util parseArgs in strict mode, with its errors turned into UsageErrors. */
export function parse<O extends Options>(args: string[], options: O, positionals: { min?: number; max?: number } = {}) {
  const all = { ...helpOption, ...options } as O & typeof helpOption;
  let parsed;
  try {
    parsed = parseArgs({ args, options: all, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs messages name the flag ("Unknown option '--x'"); drop the hint about "--" which confuses.
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  if (!(parsed.values as { help?: boolean }).help) {
    const n = parsed.positionals.length;
    if (n < (positionals.min ?? 0)) throw new UsageError('missing argument');
    if (n > (positionals.max ?? 0)) throw new UsageError(`unexpected argument "${parsed.positionals[positionals.max ?? 0]}"`);
  }
  return parsed;
}

/** Loads hub.yaml (or --config / $HUB_CONFIG). ConfigErrors propagate to main, which prints them and exits 2. */
export function config(io: Io, file: string | undefined): HubConfig {
  return loadConfig({ file, env: io.env });
}

export { ConfigError };
