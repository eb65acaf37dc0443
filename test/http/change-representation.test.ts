// One change representation: what POST /api/v1/changes answers is what GET /api/v1/changes/:id and
// POST /api/v1/changes/:id/decisions show (and the list, less links and stateChange), including why a
// rejected change was rejected and who (or which policy rule) decided. Runs the real pipeline on the repository's policy and directory.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testHub, type TestHub } from './helpers.ts';

describe('the change representation', () => {
  let hub: TestHub;
  let ci: string;
  let priya: string;
  let viewer: string;
  before(async () => {
    hub = await testHub({ pipeline: true });
    ci = await hub.token(['integration'], 'ci@acme.example');
    priya = await hub.token(['approver'], 'priya.natarajan@acme.example');
    viewer = await hub.token(['viewer']);
  });
  after(() => hub.close());

  const call = async (token: string, method: 'GET' | 'POST', url: string, body?: unknown) => {
    const res = await hub.app.inject({
      method, url, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: res.statusCode, json: JSON.parse(res.body) };
  };
  const fetched = async (id: string) => (await call(viewer, 'GET', `/api/v1/changes/${id}`)).json;
  const listed = async (id: string) => (await call(viewer, 'GET', '/api/v1/changes?limit=200')).json.items.find((c: { id: string }) => c.id === id);
  /** What the list shows of a change: everything but the parts read from other records. */
  const asListed = ({ links: _links, stateChange: _stateChange, ...rest }: Record<string, unknown>) => rest;

  test('an auto-rejected change is answered with the reason and the hub as the decider, as GET shows it and the list less links and stateChange', async () => {
    const created = await call(ci, 'POST', '/api/v1/changes', { title: 'Drop legacy sessions', environment: 'production', team: 'payments' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.state, 'rejected');
    assert.equal(created.json.stateChange.to, 'rejected');
    assert.equal(created.json.stateChange.from, 'draft');
    assert.equal(created.json.stateChange.reason, 'Auto-rejected: A production change needs a rollback plan [rollback-plan]');
    assert.equal(created.json.stateChange.actor, 'hub');
    assert.equal(created.json.stateChange.sourceTool, 'hub');
    assert.equal(created.json.risk.tier, created.json.tier);
    assert.deepEqual(created.json.steps, []);
    assert.deepEqual(await fetched(created.json.id), created.json);
    assert.deepEqual(await listed(created.json.id), asListed(created.json));
  });

  test('a retry with the same Idempotency-Key answers the same representation', async () => {
    const headers = { authorization: `Bearer ${ci}`, 'content-type': 'application/json', 'idempotency-key': 'rep-1' };
    const payload = JSON.stringify({ title: 'Rotate signing keys', environment: 'staging', team: 'payments' });
    const first = await hub.app.inject({ method: 'POST', url: '/api/v1/changes', headers, payload });
    const again = await hub.app.inject({ method: 'POST', url: '/api/v1/changes', headers, payload });
    assert.equal(first.statusCode, 201);
    assert.equal(again.statusCode, 200);
    assert.deepEqual(JSON.parse(again.body), await fetched(JSON.parse(first.body).id));
  });

  test('a pending change shows its plan with each step\'s decisions; a rejection in the hub names the approver and reason', async () => {
    const created = await call(ci, 'POST', '/api/v1/changes', { title: 'Tune pool sizes', environment: 'staging', team: 'payments', rollback: { plan: 'Redeploy the previous tag' } });
    assert.equal(created.json.state, 'pending-approval');
    assert.deepEqual(created.json.steps.map((s: { name: string; state: string; eligible: string[]; decisions: unknown[] }) => [s.name, s.state, s.eligible, s.decisions]), [
      ['Peer approval', 'open', ['priya.natarajan@acme.example'], []],
    ]);
    assert.equal(created.json.stateChange.actor, 'ci@acme.example');

    const decided = await call(priya, 'POST', `/api/v1/changes/${created.json.id}/decisions`, { outcome: 'reject', rationale: 'Pool sizes exceed the DB connection limit' });
    assert.equal(decided.status, 201, JSON.stringify(decided.json));
    const { change, decision } = decided.json;
    assert.equal(change.state, 'rejected');
    assert.equal(change.stateChange.actor, 'priya.natarajan@acme.example');
    assert.equal(change.stateChange.sourceTool, 'hub');
    assert.match(change.stateChange.reason, /^Rejected by priya.natarajan@acme.example at "Peer approval": Pool sizes exceed the DB connection limit$/);
    assert.equal(decision.outcome, 'reject');
    assert.equal(decision.stepId, change.steps[0].id);
    assert.deepEqual(change.steps[0].decisions, [decision]);
    assert.deepEqual(change.decisions, [decision]);
    assert.ok(change.version > created.json.version);
    assert.deepEqual(await fetched(created.json.id), change);
  });

  test('the OpenAPI document gives these responses the Change schema, and list items the same less links and stateChange', async () => {
    const doc = JSON.parse((await hub.app.inject({ url: '/docs/json' })).body);
    const ref = '#/components/schemas/Change';
    const paths = doc.paths;
    assert.equal(paths['/api/v1/changes/{id}'].get.responses['200'].content['application/json'].schema.$ref, ref);
    assert.equal(paths['/api/v1/changes'].get.responses['200'].content['application/json'].schema.properties.items.items.$ref, '#/components/schemas/ChangeSummary');
    assert.equal(paths['/api/v1/changes'].post.responses['201'].content['application/json'].schema.$ref, ref);
    assert.equal(paths['/api/v1/changes'].post.responses['200'].content['application/json'].schema.$ref, ref);
    assert.equal(paths['/api/v1/changes/{id}/decisions'].post.responses['201'].content['application/json'].schema.properties.change.$ref, ref);
    const change = doc.components.schemas.Change;
    for (const field of ['state', 'stateChange', 'steps', 'decisions', 'risk', 'links']) assert.ok(change.required.includes(field), field);
    const summary = doc.components.schemas.ChangeSummary;
    assert.deepEqual(Object.keys(change.properties).filter((f) => !(f in summary.properties)), ['stateChange', 'links']);
  });
});
