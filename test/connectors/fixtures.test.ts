// Every registered connector proves itself on its recorded deliveries: for each
// connectors/<id>/fixtures/deliveries/<case>/, verify → dedupeKey → eventName → parse (normalizing through
// the real mapping files) must give what case.json expects. A connector with a webhook and no fixture fails.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectors, validateRegistry } from '../../connectors/index.ts';
import { fixtureCases, parseContext } from './support/fixtures.ts';

test('the registry is consistent', () => {
  assert.deepEqual(validateRegistry(connectors), []);
});

for (const connector of connectors) {
  if (!connector.webhook || !connector.parse) continue;
  const webhook = connector.webhook;
  const parse = connector.parse;

  test(`${connector.id}: has recorded deliveries`, async () => {
    const cases = await fixtureCases(connector.id);
    assert.ok(cases.length > 0, `connectors/${connector.id}/fixtures/deliveries/ has no cases`);
    for (const c of cases) assert.ok(c.source, `${c.name}: case.json must say where the payload came from`);
  });

  for (const c of await fixtureCases(connector.id)) {
    test(`${connector.id} fixture ${c.name}: verify, dedupe and parse give the expected canonical events`, async () => {
      assert.deepEqual(webhook.verify(c.delivery, c.connection), c.expect.verify ?? { ok: true });
      if (c.expect.dedupeKey !== undefined) assert.equal(webhook.dedupeKey(c.delivery), c.expect.dedupeKey);
      if (c.expect.eventName !== undefined) assert.equal(webhook.eventName(c.delivery), c.expect.eventName);
      const ctx = await parseContext(c.connection, connector.mappingKinds ?? []);
      assert.deepEqual(JSON.parse(JSON.stringify(parse(c.delivery, ctx))), c.expect.parse);
    });
  }
}
