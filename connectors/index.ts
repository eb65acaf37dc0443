// The one list of connectors. The hub finds a connector here by id and nowhere else; adding a system
// means adding its folder and one line below. validateRegistry runs at boot and refuses an inconsistent
// entry with a message naming it.
import type { Capability, ConnectorDefinition } from '../src/sdk/index.ts';
import azureDevOps from './azure-devops/index.ts';
import generic from './generic/index.ts';
import github from './github/index.ts';
import gitlab from './gitlab/index.ts';
import jira from './jira/index.ts';
import pagerduty from './pagerduty/index.ts';
import servicenow from './servicenow/index.ts';

export type RegisteredConnector = ConnectorDefinition & { capabilities: Capability[] };

export const connectors: RegisteredConnector[] = [generic, github, servicenow, jira, pagerduty, gitlab, azureDevOps];

const paginationStyles = new Set(['link-header', 'next-page-token', 'continuation-token', 'offset', 'start-limit', 'none']);

/** Problems with the registry (empty when it is consistent). */
export function validateRegistry(list: readonly RegisteredConnector[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [i, c] of list.entries()) {
    const name = `connectors[${i}] (${c.id || 'no id'})`;
    if (!/^[a-z][a-z0-9-]*$/.test(c.id)) problems.push(`${name}: id must be lower-case letters, digits and dashes`);
    if (seen.has(c.id)) problems.push(`${name}: id "${c.id}" is registered twice`);
    seen.add(c.id);
    if (!c.displayName) problems.push(`${name}: displayName is missing`);
    if (!c.vendor || !paginationStyles.has(c.vendor.pagination)) problems.push(`${name}: vendor.pagination must be one of ${[...paginationStyles].join(', ')}`);
    if (Boolean(c.webhook) !== Boolean(c.parse)) problems.push(`${name}: a webhook needs both webhook (verify, dedupeKey) and parse`);
    const declared = new Set(c.capabilities);
    const actual: [Capability, boolean][] = [
      ['webhook', Boolean(c.webhook && c.parse)],
      ['actions', Boolean(c.actions && c.actions.length > 0)],
      ['reconcile', typeof c.reconcile === 'function'],
      ['health', typeof c.health === 'function'],
    ];
    for (const [cap, has] of actual) {
      if (declared.has(cap) && !has) problems.push(`${name}: declares ${cap} but does not implement it`);
      if (!declared.has(cap) && has) problems.push(`${name}: implements ${cap} but does not declare it (use defineConnector)`);
    }
    const intents = new Set<string>();
    for (const a of c.actions ?? []) {
      if (!a.intent || typeof a.run !== 'function') problems.push(`${name}: an action needs an intent and a run function`);
      if (intents.has(a.intent)) problems.push(`${name}: action "${a.intent}" is defined twice`);
      intents.add(a.intent);
    }
    if (c.webhook && !Array.isArray(c.webhook.secretHeaders) && typeof c.webhook.secretHeaders !== 'function') problems.push(`${name}: webhook.secretHeaders must list the headers not to store`);
  }
  return problems;
}

/** The registered connector with this id, or null. */
export function connectorById(id: string, list: readonly RegisteredConnector[] = connectors): RegisteredConnector | null {
  return list.find((c) => c.id === id) ?? null;
}
