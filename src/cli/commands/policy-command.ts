// Argument parsing for `approval-hub policy test|simulate`; the work is in ./policy.ts.
import { config, configOption, EXIT, parse, UsageError, type Io } from '../io.ts';

export const policyUsage = `Usage:
  approval-hub policy test DIR [--policy FILE] [--overlay FILE]... [--json]
      Runs the YAML cases in DIR (change in, expected tier/plan/outcome out) against the policy
      (default: the one a case names, else DIR/../policy.yaml). Exit 1 if a case fails.
  approval-hub policy simulate --changes FILE.jsonl [--policy A.yaml] [--against B.yaml] [--directory FILE] [--json] [--config FILE]
      Replays past changes under a policy (default: the configured one) and reports what would
      differ, or compares two policies.`;

export async function policyCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(`${policyUsage}\n`);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  const out = { write: (t: string) => io.out(t) };
  const { runPolicySimulate, runPolicyTest } = await import('./policy.ts');
  if (sub === 'test') {
    const { values, positionals } = parse(rest, { policy: { type: 'string' }, overlay: { type: 'string', multiple: true }, json: { type: 'boolean' } }, { min: 1, max: 1 });
    if (values.help) {
      io.out(`${policyUsage}\n`);
      return EXIT.ok;
    }
    return runPolicyTest(positionals[0]!, { ...(values.policy ? { policy: values.policy } : {}), ...(values.overlay ? { overlays: values.overlay } : {}), json: values.json ?? false, out });
  }
  if (sub === 'simulate') {
    const { values } = parse(rest, { ...configOption, changes: { type: 'string' }, policy: { type: 'string' }, against: { type: 'string' }, directory: { type: 'string' }, json: { type: 'boolean' } });
    if (values.help) {
      io.out(`${policyUsage}\n`);
      return EXIT.ok;
    }
    if (!values.changes) throw new UsageError('--changes FILE.jsonl is required');
    const policy = values.policy ?? config(io, values.config).policy;
    return runPolicySimulate({
      changes: values.changes,
      policy,
      ...(values.against ? { against: values.against } : {}),
      ...(values.directory ? { directory: values.directory } : {}),
      json: values.json ?? false,
      out,
    });
  }
  throw new UsageError(`unknown policy command "${sub}"`);
}
