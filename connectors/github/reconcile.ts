// GitHub never retries a failed delivery. Reconciliation lists the App's recent hook deliveries
// (GET /app/hook/deliveries, newest first, App JWT) and asks GitHub to redeliver each failed
// deployment_protection_rule delivery that has no later successful attempt
// (POST /app/hook/deliveries/{id}/attempts → 202). The events then arrive through the webhook, so the
// pages here carry none. Redelivery is possible for 3 days; the cursor is the newest delivered_at seen.
import { HttpError, type ReconcileContext, type ReconcilePage } from '../../src/sdk/index.ts';
import { githubHeaders } from './api.ts';
import { appJwtHeader } from './auth.ts';

interface HookDelivery {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  status_code: number;
  event: string;
  action: string | null;
}

const redeliveredEvents = new Set(['deployment_protection_rule']);
const defaultLookbackMinutes = 3 * 24 * 60 - 60;

export async function* reconcileGitHub(ctx: ReconcileContext): AsyncIterable<ReconcilePage> {
  const lookback = typeof ctx.connection.options.reconcileLookbackMinutes === 'number' ? ctx.connection.options.reconcileLookbackMinutes : defaultLookbackMinutes;
  const since = ctx.cursor ?? new Date(ctx.now().getTime() - lookback * 60_000).toISOString();
  const headers = { ...githubHeaders, ...(await appJwtHeader(ctx.connection)) };
  let newest = since;
  const succeeded = new Set<string>();
  const handled = new Set<string>();
  const pages = ctx.http.paginate<HookDelivery>({ method: 'GET', path: '/app/hook/deliveries', query: { per_page: 100 }, headers }, (b) => (Array.isArray(b) ? (b as HookDelivery[]) : []));
  let done = false;
  for await (const deliveries of pages) {
    for (const d of deliveries) {
      if (d.delivered_at < since) {
        done = true;
        break;
      }
      if (d.delivered_at > newest) newest = d.delivered_at;
      const ok = d.status_code >= 200 && d.status_code < 300;
      // Newest first: a successful (re)delivery of the same guid has been seen before its failed attempts.
      if (ok) succeeded.add(d.guid);
      else if (redeliveredEvents.has(d.event) && !succeeded.has(d.guid) && !handled.has(d.guid)) {
        handled.add(d.guid);
        try {
          // A second redelivery of one delivery is one delivery: the hub dedupes on X-GitHub-Delivery.
          await ctx.http.request({ method: 'POST', path: `/app/hook/deliveries/${d.id}/attempts`, headers, idempotent: true });
        } catch (e) {
          // 400/404/422: GitHub will not redeliver this one. A failed run keeps its cursor, so the next run
          // would meet the same refusal: it is logged and skipped. Refused credentials, a rate limit or an
          // outage still fail the run.
          if (!(e instanceof HttpError) || ![400, 404, 422].includes(e.status) || e.retryAfterMs !== null) throw e;
          ctx.log.warn({ connection: ctx.connection.id, delivery: d.guid, event: d.event, err: e.message }, 'GitHub refused to redeliver a failed delivery; skipped');
          continue;
        }
        ctx.log.info({ connection: ctx.connection.id, delivery: d.guid, event: d.event, status: d.status_code }, 'asked GitHub to redeliver a failed delivery');
      }
    }
    yield { events: [], cursor: since };
    if (done) break;
  }
  yield { events: [], cursor: newest };
}
