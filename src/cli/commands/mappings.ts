// `approval-hub mappings try FILE PAYLOAD.json`: what a mapping makes of a payload (src/mapping/try.ts).
import { connectorById } from '../../../connectors/index.ts';
import { tryMapping } from '../../mapping/try.ts';
import { EXIT, parse, UsageError, type Io } from '../io.ts';

export const mappingsUsage = `Usage:
  approval-hub mappings try MAPPING.yaml PAYLOAD.json
      Prints the canonical change the mapping makes of the payload (exit 1 naming the field that
      does not map, 2 when the mapping or payload file is bad). PAYLOAD.json may be the record or
      a webhook body or API response of the mapping's system (a Jira webhook or REST issue, a
      ServiceNow {"result": ...}, a GitHub webhook body): the record is found inside it.`;

export async function mappingsCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(`${mappingsUsage}\n`);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub !== 'try') throw new UsageError(`unknown mappings command "${sub}"`);
  const { values, positionals } = parse(rest, {}, { min: 2, max: 2 });
  if (values.help) {
    io.out(`${mappingsUsage}\n`);
    return EXIT.ok;
  }
  return tryMapping(
    positionals[0]!,
    positionals[1]!,
    { write: (t: string) => io.out(t), note: (t: string) => io.err(t) },
    (system, record) => connectorById(system)?.recordLocations?.[record],
  );
}
