// `approval-hub replay`: puts dead-lettered jobs back on the queue (after the cause was fixed, e.g. a
// target that was down longer than the retries lasted).
import { openQueue } from '../../queue/index.ts';
import { embeddedQueuePath } from '../../config/paths.ts';
import { config, configOption, EXIT, parse, type Io } from '../io.ts';

export const replayUsage = `Usage:
  approval-hub replay [ID...] [--config FILE]   re-queue all dead letters, or the given job ids
  approval-hub replay --list [--config FILE]    show dead letters without re-queuing`;

export async function replayCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { ...configOption, list: { type: 'boolean' } }, { max: Infinity });
  if (values.help) {
    io.out(`${replayUsage}\n`);
    return EXIT.ok;
  }
  const cfg = config(io, values.config);
  const queue = await openQueue(cfg.queue, { sqlitePath: embeddedQueuePath(cfg) });
  try {
    if (values.list) {
      const dead = await queue.deadLetters();
      if (dead.length === 0) io.out('no dead letters\n');
      for (const d of dead) io.out(`${d.id}  ${d.kind}  attempts=${d.attempts}  failed=${d.failedAt}  ${d.error}\n`);
      return EXIT.ok;
    }
    const dead = positionals.length > 0 ? new Set((await queue.deadLetters()).map((d) => d.id)) : null;
    const n = await queue.replay(positionals.length > 0 ? positionals : undefined);
    io.out(`re-queued ${n} dead letter${n === 1 ? '' : 's'}\n`);
    const unknown = dead ? positionals.filter((id) => !dead.has(id)) : [];
    if (unknown.length > 0) {
      io.err(`not dead letters (nothing to replay): ${unknown.join(', ')}; \`approval-hub replay --list\` shows the ids\n`);
      return EXIT.findings;
    }
    return EXIT.ok;
  } finally {
    await queue.close();
  }
}
