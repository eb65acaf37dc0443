// The `approval-hub` command (bin/approval-hub.js calls main). Exit codes: 0 ok, 1 findings (e.g. the
// audit chain does not verify), 2 usage or configuration error.
import { ConfigError } from '../config/load.ts';
import { EXIT, UsageError, type Io } from './io.ts';

type Command = { summary: string; run: (args: string[], io: Io) => Promise<number> };

// Each command is imported when it runs: `token list` should not load Fastify, the pipeline and every
// connector, and a half-configured deployment can still run the commands that do not need them.
const COMMANDS: Record<string, Command> = {
  serve: { summary: 'start the hub (same as npm start)', run: async (a, io) => (await import('./commands/serve.ts')).serveCommand(a, io) },
  check: { summary: 'validate config, mappings and policy (file:line: reason)', run: async (a, io) => (await import('./commands/check.ts')).checkCommand(a, io) },
  token: { summary: 'create | revoke | list API tokens', run: async (a, io) => (await import('./commands/token.ts')).tokenCommand(a, io) },
  audit: { summary: 'verify the audit chain | export it with a checkpoint', run: async (a, io) => (await import('./commands/audit.ts')).auditCommand(a, io) },
  replay: { summary: 're-queue dead-lettered jobs', run: async (a, io) => (await import('./commands/replay.ts')).replayCommand(a, io) },
  policy: { summary: 'test DIR | simulate --changes FILE.jsonl: policy cases and what-if replays', run: async (a, io) => (await import('./commands/policy-command.ts')).policyCommand(a, io) },
  connections: { summary: 'test: sign in to each configured system and call its health check', run: async (a, io) => (await import('./commands/connections.ts')).connectionsCommand(a, io) },
  mappings: { summary: 'try MAPPING.yaml PAYLOAD.json: show the canonical result', run: async (a, io) => (await import('./commands/mappings.ts')).mappingsCommand(a, io) },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'Usage: approval-hub <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `approval-hub <command> --help` for its options. Most commands take --config FILE',
    '(default: $HUB_CONFIG, else config/hub.yaml).',
    'Exit codes: 0 ok, 1 findings, 2 usage or configuration error.',
  ].join('\n');
}

const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    io.err(`${usage()}\n`);
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(`${usage()}\n`);
    return EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.err(`approval-hub: unknown command "${name}"\n\n${usage()}\n`);
    return EXIT.usage;
  }
  try {
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`approval-hub ${name}: ${err.message}\nRun \`approval-hub ${name} --help\` for usage.\n`);
      return EXIT.usage;
    }
    if (err instanceof ConfigError) {
      io.err(`approval-hub ${name}: configuration refused\n${err.message}\n`);
      return EXIT.usage;
    }
    // An outage (store unreachable, file not writable): one line for the user, no stack.
    io.err(`approval-hub ${name}: ${(err as Error).message}\n`);
    return EXIT.findings;
  }
}
