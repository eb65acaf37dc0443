// `approval-hub connections test`: are the credentials in hub.yaml accepted and is each vendor reachable
// from here? Runs each connector's health check through the hub's own HTTP client.
import { ConfigError, formatProblem } from '../../config/load.ts';
import { createLogger } from '../../log.ts';
import { testConnections, type ConnectionTestResult } from '../../pipeline/connections-test.ts';
import { config, configOption, EXIT, parse, UsageError, type Io } from '../io.ts';

export const connectionsUsage = `Usage:
  approval-hub connections test [--connection ID] [--json] [--config FILE]
      For each connection in hub.yaml (or only ID): signs in with the configured credentials and calls
      a cheap authenticated endpoint of the vendor (the connector's health check), through the same
      HTTP client the hub uses. One line per connection: OK, FAIL or SKIP (no health check declared,
      or a webhook-only connection without baseUrl) with the detail.
      Exit codes: 0 every check passed, 1 any failed, 2 configuration error.`;

export async function connectionsCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    (sub === undefined ? io.err : io.out)(`${connectionsUsage}\n`);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub !== 'test') throw new UsageError(`unknown subcommand "${sub}" (expected: test)`);
  const { values } = parse(rest, { ...configOption, connection: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.out(`${connectionsUsage}\n`);
    return EXIT.ok;
  }
  let cfg;
  try {
    cfg = config(io, values.config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err('connections test: configuration refused\n');
    for (const p of err.problems) io.err(`${formatProblem(p)}\n`);
    return EXIT.usage;
  }
  let results: ConnectionTestResult[];
  try {
    // Every failure ends up in a result line; the client's own log lines would only repeat them.
    results = await testConnections(cfg, { ...(values.connection !== undefined ? { connectionId: values.connection } : {}), log: createLogger({ level: 'silent' }) });
  } catch (err) {
    // An unknown connection id, an unregistered connector or a broken mapping: the configuration is wrong.
    io.err(`connections test: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
  if (values.json) {
    io.out(`${JSON.stringify({ ok: results.every((r) => r.outcome !== 'fail'), connections: results }, null, 2)}\n`);
  } else {
    if (results.length === 0) io.out(`no connections configured in ${cfg.file}\n`);
    const width = Math.max(0, ...results.map((r) => r.connectionId.length));
    const word = { ok: 'OK  ', fail: 'FAIL', unchecked: 'SKIP' } as const;
    for (const r of results) io.out(`${word[r.outcome]}  ${r.connectionId.padEnd(width)}  (${r.connector})  ${r.detail}\n`);
  }
  return results.some((r) => r.outcome === 'fail') ? EXIT.findings : EXIT.ok;
}
