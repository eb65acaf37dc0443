// `approval-hub check`: everything the hub would refuse at start, found before a deploy — the config,
// the connector each connection names, every mapping file, and the policy — printed as
// `file:line: reason`, exit 2 if anything is wrong.
import { relative, resolve } from 'node:path';
import { connectorById, connectors, validateRegistry } from '../../../connectors/index.ts';
import { ConfigError, formatProblem } from '../../config/load.ts';
import { checkMappings, loadConnectionMappings } from '../../mapping/load.ts';
import { directoryPath, loadDirectory } from '../../pipeline/directory.ts';
import { formatPolicyErrors, loadPolicy } from '../../policy-files/load.ts';
import { config, configOption, EXIT, parse, type Io } from '../io.ts';

export const checkUsage = `Usage:
  approval-hub check [--config FILE]
      Validates hub.yaml (shape, secrets resolvable, each connection's connector, the auth fields its
      type needs, its option names), every mapping under mappingsDir and the ones each connection uses,
      the policy and the directory file.
      Prints file:line: reason for each problem. Exit codes: 0 all valid, 2 something is refused.`;

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
  // Relative to where check runs when the file is below it; a file elsewhere keeps its absolute path
  // (as hub.yaml's own problems print), not a ../../ walk.
  const rel = (f: string) => {
    const abs = resolve(f);
    const r = relative(process.cwd(), abs);
    return r && !r.startsWith('..') ? r : abs;
  };

  for (const p of validateRegistry(connectors)) problems.push(`connectors/index.ts: ${p}`);
  for (const e of await checkMappings(cfg.mappingsDir)) {
    // Line 0: the folder itself cannot be read; the setting to fix is hub.yaml's mappingsDir.
    problems.push(e.line === 0 ? `${rel(e.file)}: ${e.reason} (mappingsDir in ${rel(cfg.file)}, relative to its folder; default ./mappings)` : `${rel(e.file)}:${e.line}: ${e.reason}`);
  }
  const scanned = new Set(problems);
  for (const [i, c] of cfg.connections.entries()) {
    // loadConfig has refused a connection naming an unregistered connector, with its line.
    const connector = connectorById(c.connector);
    if (!connector) continue;
    const loaded = await loadConnectionMappings(cfg.mappingsDir, c, connector.mappingKinds ?? []);
    if (loaded.ok) continue;
    for (const e of loaded.errors) {
      // A file the connection names that is not there: the line to fix is the connection's, in hub.yaml.
      if (e.line === 0) {
        problems.push(`${rel(cfg.file)}: connections[${i}] (${c.id}) mapping ${rel(e.file)}: ${e.reason} (mapping files are relative to mappingsDir ${rel(cfg.mappingsDir)})`);
        continue;
      }
      // The folder scan above reported the file already: once is enough.
      if (!scanned.has(`${rel(e.file)}:${e.line}: ${e.reason}`)) problems.push(`${rel(e.file)}:${e.line}: connection ${c.id}: ${e.reason}`);
    }
  }
  let directory: Awaited<ReturnType<typeof loadDirectory>> | undefined;
  try {
    directory = await loadDirectory(directoryPath(cfg));
  } catch (err) {
    problems.push((err as Error).message);
  }
  // Checked as the hub loads it: with its overlays, and against the directory so unknown groups and roles show.
  const policy = await loadPolicy(cfg.policy, { overlays: [...(cfg.policyOverlays ?? [])], ...(directory ? { directory } : {}) });
  if (!policy.ok) {
    for (const e of policy.errors) {
      // The policy file itself cannot be read: the setting to fix is hub.yaml's policy.
      if (e.path === '(file)' && e.file === cfg.policy) problems.push(`${rel(e.file)}: ${e.message} (policy in ${rel(cfg.file)}, relative to its folder; default ./policy.yaml)`);
      else problems.push(...formatPolicyErrors([{ ...e, file: rel(e.file) }]));
    }
  }

  const unique = [...new Set(problems)];
  for (const p of unique) io.err(`${p}\n`);
  if (unique.length > 0) {
    io.err(`check: ${unique.length} problem${unique.length === 1 ? '' : 's'}\n`);
    return EXIT.usage;
  }
  io.out(`check: ${rel(cfg.file)} OK (${cfg.connections.length} connection${cfg.connections.length === 1 ? '' : 's'}), mappings OK, policy ${rel(cfg.policy)} OK, directory ${rel(directoryPath(cfg))} OK\n`);
  return EXIT.ok;
}
