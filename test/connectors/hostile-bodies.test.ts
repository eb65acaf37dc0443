// A verified delivery can still carry any JSON (a misconfigured business rule, a vendor change): parse
// must answer ignored/failed with a reason, never throw, for every registered connector.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectors } from '../../connectors/index.ts';
import { connectionFor, parseContext } from './support/fixtures.ts';

const bodies = [
  'not json', 'null', '[]', '"text"', '42', '{}',
  '{"type":"change.requested","change":null,"link":{"kind":"x","externalId":"1"}}',
  '{"type":"decision.recorded","link":{"kind":"x","externalId":"1"},"outcome":"maybe","actor":"a","at":"soon"}',
  '{"event":"record.updated","table":"change_request","changed":"state","record":{"sys_id":5,"state":{"x":1}}}',
  '{"table":"sysapproval_approver","record":{"sys_id":"a","state":"approved"}}',
  '{"webhookEvent":"jira:issue_updated","issue":{"key":"CHG-1","fields":[]},"changelog":{"items":"status"}}',
  '{"webhookEvent":"jira:issue_updated","issue":{"key":"CHG-1","fields":{"status":null,"customfield_10027":[null,{"approvers":"x"}]}},"changelog":{"items":[null,{"fieldId":"status"},{"fieldId":"customfield_10027"}]}}',
  '{"action":"requested","deployment_callback_url":42}',
  '{"action":"requested","deployment_callback_url":"https://api.github.com/repos/a/b/actions/runs/1/deployment_protection_rule","pull_requests":[null,7,{"title":{}}],"deployment":"x","repository":[]}',
];

for (const connector of connectors) {
  if (!connector.parse) continue;
  test(`${connector.id}: hostile bodies are ignored or failed with a reason, never thrown`, async () => {
    const connection = connectionFor(connector.id, { baseUrl: connector.id === 'github' ? 'https://api.github.com' : 'https://example.test', options: { approvalsField: 'customfield_10027', jira: 'jira' } });
    const ctx = await parseContext(connection, connector.mappingKinds ?? []);
    for (const body of bodies) {
      const delivery = { rawBody: Buffer.from(body), headers: { 'x-github-event': 'deployment_protection_rule' }, receivedAt: new Date() };
      const result = connector.parse!(delivery, ctx);
      assert.ok(['ignored', 'failed', 'events'].includes(result.status), `${body} → ${JSON.stringify(result)}`);
      if (result.status !== 'events') assert.ok(result.reason.length > 0, `${body} → no reason`);
    }
  });
}
