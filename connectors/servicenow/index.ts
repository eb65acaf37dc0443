// ServiceNow connector: change_request and sysapproval_approver in from the hub's business rule and by
// reconciliation; change requests, work notes, decisions and states out through the Table API.
import { defineConnector, type InboundDelivery } from '../../src/sdk/index.ts';
import { comment } from './actions/comment.ts';
import { openRecord } from './actions/open-record.ts';
import { recordDecision } from './actions/record-decision.ts';
import { syncState } from './actions/sync-state.ts';
import { parseServiceNow } from './parse.ts';
import { reconcileServiceNow } from './reconcile.ts';
import { tablePath } from './table-api.ts';
import { verifyServiceNow } from './verify.ts';

export default defineConnector({
  id: 'servicenow',
  displayName: 'ServiceNow',
  // Table API: Link header paging; 429 with Retry-After (seconds) and X-RateLimit-Reset (epoch seconds).
  vendor: { pagination: 'link-header', retryAfterHeaders: ['retry-after'], rateLimitResetHeaders: ['x-ratelimit-reset'] },
  webhook: {
    verify: verifyServiceNow,
    // Set by business-rule.js: "<table>:<sys_id>:<sys_mod_count>", the same on a resend of one update.
    dedupeKey: (d: InboundDelivery) => d.headers['x-approval-hub-delivery'] ?? null,
    // The rule sends the event in the body too: a customised REST message without the header still names it.
    eventName: (d: InboundDelivery, body?: unknown) => {
      const fromBody = (body as { event?: unknown } | null | undefined)?.event;
      return d.headers['x-approval-hub-event'] ?? (typeof fromBody === 'string' ? fromBody.slice(0, 100) : null);
    },
    secretHeaders: ['x-hub-signature-256', 'authorization'],
    // An HMAC secret, or Basic credentials for a REST message that cannot sign.
    settingsProblem: (keys: string[]) =>
      keys.includes('secret') || keys.includes('secrets') || (keys.includes('username') && keys.includes('password'))
        ? null
        : 'give webhook.secret (the business rule signs), or webhook.username and webhook.password (Basic auth)',
    // Per change request: an approval's update names its change in `sysapproval`, so it stays behind
    // the change's own earlier updates.
    orderingKey(_d: InboundDelivery, body: unknown) {
      const b = body as { table?: unknown; record?: { sys_id?: unknown; sysapproval?: unknown } } | null;
      const id = b?.table === 'sysapproval_approver' ? b.record?.sysapproval : b?.record?.sys_id;
      return typeof id === 'string' && id !== '' ? `change_request/${id}` : null;
    },
  },
  parse: parseServiceNow,
  actions: [openRecord, comment, recordDecision, syncState],
  reconcile: reconcileServiceNow,
  async health(ctx) {
    const res = await ctx.http.request<unknown>({ method: 'GET', path: tablePath('change_request'), query: { sysparm_limit: 1, sysparm_fields: 'sys_id' } });
    // A proxy, a load balancer's default page or a wrong baseUrl can answer 200 too; only the Table API
    // answers a query with {result: [...]}.
    const result = typeof res.body === 'object' && res.body !== null ? (res.body as { result?: unknown }).result : undefined;
    if (!Array.isArray(result)) {
      const got = typeof res.body === 'string' ? `text (${JSON.stringify(res.body.slice(0, 60))})` : JSON.stringify(res.body)?.slice(0, 80) ?? 'nothing';
      return { ok: false, detail: `${ctx.connection.baseUrl ?? 'baseUrl'} answered 200 but not as the Table API (expected {"result": [...]} for change_request, got ${got}): check baseUrl points at the instance` };
    }
    return { ok: true, detail: 'Table API answered for change_request' };
  },
  mappingKinds: ['change_request', 'sysapproval_approver'],
  // The Table API answers {result: {...}} for one record and {result: [...]} for a query; the hub's
  // business rule posts {table, record, changed, instance}.
  recordLocations: {
    change_request: { at: ['result', 'record', ''], has: ['sys_id'] },
    sysapproval_approver: { at: ['result', 'record', ''], has: ['sys_id'] },
  },
  readme: 'connectors/servicenow/README.md',
  options: ['assignmentGroup', 'assignmentGroups', 'reconcileLookbackMinutes'],
});
