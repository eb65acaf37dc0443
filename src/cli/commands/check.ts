// `approval-hub check`: everything the hub would refuse at start, found before a deploy — the config,
// every mapping file, and the policy — printed as `file:line: reason`, exit 2 if anything is wrong.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ConfigError, formatProblem } from '../../config/load.ts';
import { checkMappings, mappingFileFor } from '../../mapping/load.ts';
import { config, configOption, EXIT, parse, type Io } from '../io.ts';

export const checkUsage = `Usage:
  approval-hub check [--config FILE]
      Validates hub.yaml (shape, secrets resolvable), every mapping under mappingsDir, the mapping files
      each connection names, and the policy. Prints file:line: reason for each problem.
      Exit codes: 0 all valid, 2 something is refused.`;

export async function checkCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, configOption);
  if (values.help) {
    io.out(`${checkUsage}\n`);
    return EXIT.ok;
  }
  let cfg;
  try {
    cfg = config(io, values.config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) io.err(`${formatProblem(p)}\n`);
    return EXIT.usage;
  }
  const problems: string[] = [];
  const rel = (f: string) => relative(process.cwd(), f) || f;

  for (const e of await checkMappings(cfg.mappingsDir)) problems.push(`${rel(e.file)}:${e.line}: ${e.reason}`);
  for (const c of cfg.connections) {
    for (const kind of Object.keys(c.mappings)) {
      const file = join(cfg.mappingsDir, mappingFileFor(c, kind));
      if (!existsSync(file)) problems.push(`${rel(cfg.file)}: connections "${c.id}" mapping ${kind}: no such file ${rel(file)}`);
    }
  }
  for (const p of problems) io.err(`${p}\n`);
  if (problems.length > 0) {
    io.err(`check: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
    return EXIT.usage;
  }
  io.out(`check: ${rel(cfg.file)} OK (${cfg.connections.length} connection${cfg.connections.length === 1 ? '' : 's'}), mappings OK\n`);
  return EXIT.ok;
}
