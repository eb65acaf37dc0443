// Outbound actions under failure: a crash between the vendor call and the ledger entry repeats nothing,
// a target that answers 503 gets every action once it is back and in order per change, and a 429 with
// Retry-After is not called again before the time it named.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/port.ts';
import { deliver, explain, startHub, waitFor, GH_SECRET, type PipelineHub } from './harness.ts';

/** The store with `jobs.finish` failing once for the first ledger key that matches: the action was
 * performed at the vendor, then the process "died" before recording it. */
function crashOnceBeforeFinish(store: Store, keyPrefix: string): Store {
  let crashed = false;
  const jobs = new Proxy(store.jobs, {
    get(target, prop, receiver) {
      if (prop === 'finish') {
        return async (key: string, result: Parameters<Store['jobs']['finish']>[1]) => {
          if (!crashed && key.startsWith(keyPrefix)) {
            crashed = true;
            throw new Error('simulated crash after the vendor call, before the ledger entry');
          }
          return target.finish(key, result);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'jobs') return jobs;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function requestDeployment(hub: PipelineHub, runId: number, ref: string) {
  const issue = hub.jira.createIssue({ summary: `Deploy ${ref}` });
  const sent = await deliver(() => hub.gh.sendDeploymentProtectionRule(hub.webhookUrl('github'), { secret: GH_SECRET, runId, environment: 'staging', ref: `${issue.key}-${ref}` }));
  assert.equal(sent.status, 202, sent.body);
  return issue;
}

const snCreates = (hub: PipelineHub) => hub.sn.calls.filter((c) => c.method === 'POST' && c.path === '/api/now/table/change_request');

describe('outbound after a crash between the action and the ledger', () => {
  let hub: PipelineHub;
  before(async () => {
    hub = await startHub({ wrapStore: (s) => crashOnceBeforeFinish(s, 'open-record_') });
  });
  after(() => hub.close());

  it('opens the ServiceNow record once; the retry finds it and records it as already done', async () => {
    await requestDeployment(hub, 6001, 'crash-test');
    const change = await waitFor('the change', async () => (await hub.store.changes.list({}, { limit: 1 })).items[0]);
    const job = await waitFor('the open-record job to finish', async () => {
      const jobs = await hub.store.jobs.listForChange(change.id);
      return jobs.find((j) => j.intent === 'servicenow.open-record' && j.status === 'done');
    }).catch(async (e) => { throw new Error(`${(e as Error).message}\n${await explain(hub, change.id)}`); });
    assert.equal(snCreates(hub).length, 1, 'ServiceNow got exactly one create');
    assert.equal(job.attempts, 2);
    assert.equal(job.result?.status, 'already-done');
    const links = await hub.store.links.listForChange(change.id);
    assert.equal(links.filter((l) => l.connectionId === 'servicenow').length, 1);
  });
});

describe('outbound to a target that answers 503, then recovers', () => {
  let hub: PipelineHub;
  before(async () => {
    hub = await startHub();
  });
  after(() => hub.close());

  it('delivers every action once it is back, in order for the change', async () => {
    hub.sn.failNext(2, 503);
    const issue = await requestDeployment(hub, 6002, 'sn-outage');
    const comment = await waitFor('the Jira comment', () => hub.jira.calls.find((c) => c.method === 'POST' && c.path === `/rest/api/3/issue/${issue.key}/comment` && c.status === 201));
    const created = snCreates(hub).filter((c) => c.status === 201);
    assert.equal(created.length, 1, 'one change_request created after the outage');
    assert.equal(hub.sn.calls.filter((c) => c.status === 503).length, 2, 'both refused calls were retried, not dropped');
    // The announcement follows the approval request for the same change, even though ServiceNow was down first.
    assert.ok(comment.at >= created[0]!.at, 'the Jira comment went out after the ServiceNow record was opened');
    assert.equal(hub.jira.calls.filter((c) => c.method === 'POST' && c.path === `/rest/api/3/issue/${issue.key}/comment`).length, 1);
  });
});

describe('outbound to a target that answers 429 with Retry-After', () => {
  let hub: PipelineHub;
  before(async () => {
    hub = await startHub();
  });
  after(() => hub.close());

  it('is not called again before the time it named', async () => {
    const issue = hub.jira.createIssue({ summary: 'Rate limited' });
    const limitedAt = Date.now();
    hub.jira.rateLimit(2);
    const sent = await deliver(() => hub.gh.sendDeploymentProtectionRule(hub.webhookUrl('github'), { secret: GH_SECRET, runId: 6003, environment: 'staging', ref: `${issue.key}-rate-limited` }));
    assert.equal(sent.status, 202, sent.body);
    await waitFor('the Jira comment', () => hub.jira.calls.find((c) => c.method === 'POST' && c.path === `/rest/api/3/issue/${issue.key}/comment` && c.status === 201));
    const limited = hub.jira.calls.filter((c) => c.status === 429);
    assert.equal(limited.length, 1, 'one call was told to wait, and the hub waited');
    const afterLimit = hub.jira.calls.filter((c) => c.at > limited[0]!.at);
    assert.ok(afterLimit.length > 0);
    for (const c of afterLimit) assert.ok(c.at >= limitedAt + 2000, `${c.method} ${c.path} came ${limitedAt + 2000 - c.at} ms before the Retry-After time`);
  });
});

describe('a crash after the change is stored, before its actions are queued', () => {
  let hub: PipelineHub;
  before(async () => {
    let crashed = false;
    hub = await startHub({
      wrapQueue: (queue) => new Proxy(queue, {
        get(target, prop, receiver) {
          if (prop === 'enqueue') {
            return async (job: Parameters<typeof target.enqueue>[0]) => {
              if (!crashed && job.kind === 'outbound') {
                crashed = true;
                throw new Error('simulated crash between storing the change and queueing its actions');
              }
              return target.enqueue(job);
            };
          }
          const v = Reflect.get(target, prop, receiver) as unknown;
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
    });
  });
  after(() => hub.close());

  it('queues them when the delivery is retried, and the delivery counts as processed', async () => {
    const issue = await requestDeployment(hub, 6004, 'outbox');
    const record = await waitFor('the ServiceNow record', () => [...hub.sn.tables.get('change_request')!.values()].find((r) => r.short_description?.includes(`${issue.key}-outbox`)));
    await waitFor('the Jira comment', () => hub.jira.issues.get(issue.key)!.comments.length > 0);
    assert.equal(snCreates(hub).length, 1);
    const deliveries = (await hub.store.deliveries.list({ connectionId: 'github' }, { limit: 10 })).items;
    assert.equal(deliveries[0]?.status, 'processed', deliveries[0]?.reason ?? '');
    assert.match(deliveries[0]?.reason ?? '', /resumed after an interrupted first attempt/);
    assert.ok(record.correlation_id);
  });
});
