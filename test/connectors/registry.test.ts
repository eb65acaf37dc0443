// The registry validator that runs at boot: what it refuses, in words an integrator can act on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectorById, connectors, validateRegistry, type RegisteredConnector } from '../../connectors/index.ts';
import { defineConnector, type ActionDefinition, type VendorFacts } from '../../src/sdk/index.ts';

const vendor: VendorFacts = { pagination: 'none', retryAfterHeaders: [], rateLimitResetHeaders: [] };
const noop: ActionDefinition = { intent: 'comment', description: 'x', run: async () => ({ status: 'done' }) };

test('the shipped registry lists generic, github, servicenow and jira and is consistent', () => {
  assert.deepEqual(connectors.map((c) => c.id), ['generic', 'github', 'servicenow', 'jira', 'pagerduty', 'gitlab', 'azure-devops']);
  assert.deepEqual(validateRegistry(connectors), []);
});

test('connectorById finds a registered connector and answers null for an unknown id', () => {
  assert.equal(connectorById('jira')?.displayName, 'Jira / Jira Service Management');
  assert.equal(connectorById('bitbucket'), null);
});

test('a duplicate id is refused', () => {
  const a = defineConnector({ id: 'acme', displayName: 'Acme', vendor: vendor });
  assert.deepEqual(validateRegistry([a, a]), ['connectors[1] (acme): id "acme" is registered twice']);
});

test('a webhook without parse is refused', () => {
  const c = defineConnector({
    id: 'half', displayName: 'Half', vendor: vendor,
    webhook: { verify: () => ({ ok: true }), dedupeKey: () => null, eventName: () => null, secretHeaders: [] },
  });
  assert.deepEqual(validateRegistry([c]), ['connectors[0] (half): a webhook needs both webhook (verify, dedupeKey) and parse']);
});

test('a declared capability without its implementation is refused', () => {
  const c = { id: 'liar', displayName: 'Liar', vendor: vendor, capabilities: ['reconcile'] } as RegisteredConnector;
  assert.deepEqual(validateRegistry([c]), ['connectors[0] (liar): declares reconcile but does not implement it']);
});

test('an action defined twice and a bad id are refused', () => {
  const c = defineConnector({ id: 'Bad_Id', displayName: 'Bad', vendor: vendor, actions: [noop, noop] });
  assert.deepEqual(validateRegistry([c]), [
    'connectors[0] (Bad_Id): id must be lower-case letters, digits and dashes',
    'connectors[0] (Bad_Id): action "comment" is defined twice',
  ]);
});
