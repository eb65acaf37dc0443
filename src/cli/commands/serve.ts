// `approval-hub serve`: the same as `npm start`.
import { serve } from '../../server.ts';
import { configOption, EXIT, parse, type Io } from '../io.ts';

export const serveUsage = `Usage:
  approval-hub serve [--config FILE]
      Starts the hub (HTTP API, webhooks, workers). Stops gracefully on SIGTERM/SIGINT.`;

export async function serveCommand(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, configOption);
  if (values.help) {
    io.out(`${serveUsage}\n`);
    return EXIT.ok;
  }
  const code = await serve({ file: values.config, env: io.env });
  // As in src/server.ts: open handles of drivers that ignore close() must not keep a stopped hub alive.
  setTimeout(() => process.exit(code), 1000).unref();
  return code;
}
