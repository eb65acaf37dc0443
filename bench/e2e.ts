// End to end (PRODUCT.md §10): an approval recorded in ServiceNow reaches GitHub. Measured from the
// moment ServiceNow's business-rule webhook is sent to the moment the fake GitHub receives the
// deployment_protection_rule callback, through ingest, the delivery queue, the engine and the outbound
// job. One in-process hub (SQLite store, embedded queue with production timings) and fake vendor
// servers that answer at once; approvals one after another, so the figure is latency, not throughput.
import { GH_SECRET, SN_SECRET, deliver, startHub, waitFor } from '../test/pipeline/harness.ts';
import { percentile } from './support.ts';

const SAMPLES = 40;


export async function benchE2E(): Promise<{ name: string; figures: { p50Ms: number; p95Ms: number; n: number } }[]> {
  const hub = await startHub({ queueTuning: {}, pipeline: { connectionOptions: {} } });
  try {
    hub.sn.addUser({ user_name: 'priya.natarajan', email: 'priya.natarajan@acme.example', name: 'Priya Natarajan' });
    const latencies: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const runId = 900_000 + i;
      const sent = await deliver(() => hub.gh.sendDeploymentProtectionRule(hub.webhookUrl('github'), { secret: GH_SECRET, runId, environment: 'staging', ref: `bench-${runId}` }));
      if (sent.status !== 202) throw new Error(`GitHub delivery refused: ${sent.status} ${sent.body}`);
      const record = await waitFor('the ServiceNow record', () => [...hub.sn.tables.get('change_request')!.values()].find((r) => r.short_description?.includes(`bench-${runId}`)), 30_000);
      const approval = hub.sn.requestApproval(record.sys_id!, 'priya.natarajan');
      hub.sn.approve(approval.sys_id!, 'priya.natarajan', 'ok');
      const started = Date.now();
      const delivered = await deliver(() => hub.sn.sendBusinessRule(hub.webhookUrl('servicenow'), 'sysapproval_approver', approval.sys_id!, ['state'], { secret: SN_SECRET }));
      if (delivered.status !== 202) throw new Error(`ServiceNow delivery refused: ${delivered.status} ${delivered.body}`);
      const answer = await waitFor('the GitHub callback', () => hub.gh.decisions.find((d) => d.runId === runId), 30_000);
      if (answer.state !== 'approved') throw new Error(`gate ${runId} answered ${answer.state}`);
      latencies.push(answer.at - started);
    }
    latencies.sort((a, b) => a - b);
    return [{ name: 'e2e: ServiceNow approval → GitHub gate callback (embedded)', figures: { p50Ms: percentile(latencies, 50), p95Ms: percentile(latencies, 95), n: latencies.length } }];
  } finally {
    await hub.close();
  }
}
