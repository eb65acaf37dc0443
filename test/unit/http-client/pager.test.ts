// The one pager, for each vendor's paging style, with real-shaped responses.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { nextLink, PagingLoopError, RefusedUrlError } from '../../../src/http-client/index.ts';
import { clientFor, connection, rejection, vendors } from './support.ts';

const SN = 'https://acme.service-now.example';
const server = setupServer();
before(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
after(() => server.close());

async function collect<T>(it: AsyncIterable<T[]>): Promise<T[][]> {
  const pages: T[][] = [];
  for await (const page of it) pages.push(page);
  return pages;
}

describe('Link header parsing', () => {
  it("reads ServiceNow's Link (no space after ';') and GitHub's (with a space)", () => {
    const sn =
      '<https://acme.service-now.com/api/now/table/change_request?sysparm_limit=2&sysparm_offset=0>;rel="first",' +
      '<https://acme.service-now.com/api/now/table/change_request?sysparm_limit=2&sysparm_offset=2>;rel="next",' +
      '<https://acme.service-now.com/api/now/table/change_request?sysparm_limit=2&sysparm_offset=4>;rel="last"';
    const gh =
      '<https://api.github.com/repositories/1/pulls/7/reviews?page=2>; rel="next", <https://api.github.com/repositories/1/pulls/7/reviews?page=5>; rel="last"';
    assert.equal(nextLink(sn), 'https://acme.service-now.com/api/now/table/change_request?sysparm_limit=2&sysparm_offset=2');
    assert.equal(nextLink(gh), 'https://api.github.com/repositories/1/pulls/7/reviews?page=2');
    assert.equal(nextLink('<https://x/?page=1>; rel="prev", <https://x/?page=1>; rel="first"'), null);
    assert.equal(nextLink(undefined), null);
  });
});

describe('paginate', () => {
  it('follows ServiceNow Link rel="next" until the last page, which has none', async () => {
    const rows = Array.from({ length: 5 }, (_, i) => ({ sys_id: String(i).padStart(32, '0'), number: `CHG00300${10 + i}` }));
    const queries: string[] = [];
    server.use(
      http.get(`${SN}/api/now/table/change_request`, ({ request }) => {
        const u = new URL(request.url);
        queries.push(u.searchParams.get('sysparm_query')!);
        const offset = Number(u.searchParams.get('sysparm_offset') ?? 0);
        const limit = Number(u.searchParams.get('sysparm_limit'));
        const link = (o: number, rel: string) => {
          const l = new URL(u);
          l.searchParams.set('sysparm_offset', String(o));
          return `<${l.href}>;rel="${rel}"`;
        };
        const links = [link(0, 'first')];
        if (offset + limit < rows.length) links.push(link(offset + limit, 'next'));
        links.push(link(4, 'last'));
        return HttpResponse.json({ result: rows.slice(offset, offset + limit) }, { headers: { Link: links.join(','), 'X-Total-Count': String(rows.length) } });
      }),
    );
    const { client } = clientFor();
    const pages = await collect(
      client.paginate(
        { method: 'GET', path: '/api/now/table/change_request', query: { sysparm_query: 'sys_updated_on>=2026-11-24 13:00:00^ORDERBYsys_updated_on', sysparm_limit: 2 } },
        (b) => (b as { result: { number: string }[] }).result.map((r) => r.number),
      ),
    );
    assert.deepEqual(pages, [['CHG0030010', 'CHG0030011'], ['CHG0030012', 'CHG0030013'], ['CHG0030014']]);
    assert.deepEqual(new Set(queries), new Set(['sys_updated_on>=2026-11-24 13:00:00^ORDERBYsys_updated_on']));
  });

  it("refuses a Link rel=\"next\" pointing at another host", async () => {
    server.use(http.get(`${SN}/api/now/table/x`, () => HttpResponse.json({ result: [1] }, { headers: { Link: '<https://evil.example/next>;rel="next"' } })));
    const { client } = clientFor();
    const it = client.paginate({ method: 'GET', path: '/api/now/table/x' }, (b) => (b as { result: number[] }).result);
    const err = await rejection(collect(it));
    assert.ok(err instanceof RefusedUrlError);
  });

  it("follows Jira /search/jql nextPageToken until isLast (no total, no startAt)", async () => {
    const tokens: (string | null)[] = [];
    server.use(
      http.get('https://acme.atlassian.example/rest/api/3/search/jql', ({ request }) => {
        const token = new URL(request.url).searchParams.get('nextPageToken');
        tokens.push(token);
        if (token === null) return HttpResponse.json({ issues: [{ id: '10042', key: 'CHG-42' }], nextPageToken: 'CAEaAggD', isLast: false });
        return HttpResponse.json({ issues: [{ id: '10043', key: 'CHG-43' }], isLast: true });
      }),
    );
    const { client } = clientFor({ vendor: vendors.jira, connection: connection({ id: 'jira', baseUrl: 'https://acme.atlassian.example' }) });
    const pages = await collect(
      client.paginate(
        { method: 'GET', path: '/rest/api/3/search/jql', query: { jql: 'project=CHG ORDER BY updated ASC', fields: 'status,updated', maxResults: 1 } },
        (b) => (b as { issues: { key: string }[] }).issues.map((i) => i.key),
      ),
    );
    assert.deepEqual(pages, [['CHG-42'], ['CHG-43']]);
    assert.deepEqual(tokens, [null, 'CAEaAggD']);
  });

  it('puts nextPageToken in the JSON body when the search is a POST', async () => {
    const bodies: unknown[] = [];
    server.use(
      http.post('https://acme.atlassian.example/rest/api/3/search/jql', async ({ request }) => {
        const body = (await request.json()) as { nextPageToken?: string };
        bodies.push(body);
        return body.nextPageToken ? HttpResponse.json({ issues: [{ key: 'B' }], isLast: true }) : HttpResponse.json({ issues: [{ key: 'A' }], nextPageToken: 't2', isLast: false });
      }),
    );
    const { client } = clientFor({ vendor: vendors.jira, connection: connection({ id: 'jira', baseUrl: 'https://acme.atlassian.example' }) });
    const pages = await collect(client.paginate({ method: 'POST', path: '/rest/api/3/search/jql', body: { jql: 'project=CHG' } }, (b) => (b as { issues: { key: string }[] }).issues.map((i) => i.key)));
    assert.deepEqual(pages, [['A'], ['B']]);
    assert.deepEqual(bodies, [{ jql: 'project=CHG' }, { jql: 'project=CHG', nextPageToken: 't2' }]);
  });

  it('passes the Azure DevOps x-ms-continuationtoken header back as continuationToken', async () => {
    const sample = JSON.parse(readFileSync(new URL('../../fakes/payloads/ado-approvals-list.response.json', import.meta.url), 'utf8')) as { value: { id: string }[] };
    const seen: (string | null)[] = [];
    server.use(
      http.get('https://dev.azure.example/acme/payments/_apis/pipelines/approvals', ({ request }) => {
        const u = new URL(request.url);
        assert.equal(u.searchParams.get('api-version'), '7.1');
        const token = u.searchParams.get('continuationToken');
        seen.push(token);
        if (token === null) return HttpResponse.json(sample, { headers: { 'x-ms-continuationtoken': '2024-11-24T13:01:10.552Z' } });
        return HttpResponse.json({ count: 1, value: [{ ...sample.value[0], id: 'second' }] });
      }),
    );
    const { client } = clientFor({ vendor: vendors.ado, connection: connection({ id: 'ado', baseUrl: 'https://dev.azure.example/acme/payments' }) });
    const pages = await collect(
      client.paginate({ method: 'GET', path: '/_apis/pipelines/approvals', query: { state: 'pending', 'api-version': '7.1' } }, (b) => (b as { value: { id: string }[] }).value.map((a) => a.id)),
    );
    assert.deepEqual(pages, [[sample.value[0]!.id], ['second']]);
    assert.deepEqual(seen, [null, '2024-11-24T13:01:10.552Z']);
  });

  it('pages by sysparm_offset until X-Total-Count is reached', async () => {
    const offsets: string[] = [];
    server.use(
      http.get(`${SN}/api/now/table/sysapproval_approver`, ({ request }) => {
        const o = Number(new URL(request.url).searchParams.get('sysparm_offset'));
        offsets.push(String(o));
        const all = ['a1', 'a2', 'a3'];
        return HttpResponse.json({ result: all.slice(o, o + 2).map((sys_id) => ({ sys_id })) }, { headers: { 'X-Total-Count': '3' } });
      }),
    );
    const { client } = clientFor({ vendor: vendors.offset });
    const pages = await collect(
      client.paginate({ method: 'GET', path: '/api/now/table/sysapproval_approver', query: { sysparm_limit: 2, sysparm_offset: 0 } }, (b) => (b as { result: { sys_id: string }[] }).result.map((r) => r.sys_id)),
    );
    assert.deepEqual(pages, [['a1', 'a2'], ['a3']]);
    assert.deepEqual(offsets, ['0', '2']);
  });

  it("pages PagerDuty-style offset/limit until more is false", async () => {
    server.use(
      http.get('https://api.pagerduty.example/incidents', ({ request }) => {
        const o = Number(new URL(request.url).searchParams.get('offset') ?? 0);
        return HttpResponse.json({ incidents: [{ id: `P${o}` }], limit: 1, offset: o, more: o < 1, total: null });
      }),
    );
    const { client } = clientFor({ vendor: vendors.offset, connection: connection({ baseUrl: 'https://api.pagerduty.example' }) });
    const pages = await collect(client.paginate({ method: 'GET', path: '/incidents', query: { limit: 1 } }, (b) => (b as { incidents: { id: string }[] }).incidents.map((i) => i.id)));
    assert.deepEqual(pages, [['P0'], ['P1']]);
  });

  it('never asks PagerDuty past offset+limit 10000, and says so when more remain', async () => {
    // PagerDuty's classic paging stops at offset+limit = 10000 (larger sets need narrower filters); this
    // imitation refuses a request past it the way PagerDuty refuses invalid input (error body constructed
    // from the documented {error:{message,code,errors}} shape), and serves at most 75 per page.
    const asked: { offset: number; limit: number }[] = [];
    server.use(
      http.get('https://api.pagerduty.example/incidents', ({ request }) => {
        const q = new URL(request.url).searchParams;
        const offset = Number(q.get('offset') ?? 0);
        const limit = Number(q.get('limit') ?? 25);
        asked.push({ offset, limit });
        if (offset + limit > 10_000) {
          return HttpResponse.json({ error: { message: 'Invalid Input Provided', code: 2001, errors: ['Offset plus limit must be at most 10000.'] } }, { status: 400 });
        }
        const served = Math.min(limit, 75);
        return HttpResponse.json({ incidents: Array.from({ length: served }, (_, i) => ({ id: `P${offset + i}` })), limit: served, offset, more: true, total: null });
      }),
    );
    const { client } = clientFor({ vendor: vendors.offset, connection: connection({ id: 'pagerduty', baseUrl: 'https://api.pagerduty.example' }) });
    let seen = 0;
    const err = await rejection(
      (async () => {
        for await (const page of client.paginate({ method: 'GET', path: '/incidents', query: { limit: 100 } }, (b) => (b as { incidents: unknown[] }).incidents)) seen += page.length;
      })(),
    );
    assert.ok(asked.every((a) => a.offset + a.limit <= 10_000), `asked past 10000: ${JSON.stringify(asked.at(-1))}`);
    assert.deepEqual(asked.at(-1), { offset: 9975, limit: 25 });
    assert.equal(seen, 10_000);
    assert.ok(err instanceof PagingLoopError, String(err));
    assert.match(err.message, /\/incidents has more than PagerDuty's 10000 records by offset/);
  });

  it('pages JSM approvals by start/limit until isLastPage', async () => {
    const sample = JSON.parse(readFileSync(new URL('../../fakes/payloads/jsm-approvals-list.json', import.meta.url), 'utf8')) as { values: { id: string }[] };
    const starts: string[] = [];
    server.use(
      http.get('https://acme.atlassian.example/rest/servicedeskapi/request/CHG-42/approval', ({ request }) => {
        const start = Number(new URL(request.url).searchParams.get('start'));
        starts.push(String(start));
        const last = start >= 1;
        return HttpResponse.json({ ...sample, start, limit: 1, size: 1, isLastPage: last, values: [{ ...sample.values[0], id: String(7 + start) }] });
      }),
    );
    const { client } = clientFor({ vendor: vendors.jsm, connection: connection({ id: 'jsm', baseUrl: 'https://acme.atlassian.example' }) });
    const pages = await collect(
      client.paginate({ method: 'GET', path: '/rest/servicedeskapi/request/CHG-42/approval', query: { start: 0, limit: 1 } }, (b) => (b as { values: { id: string }[] }).values.map((v) => v.id)),
    );
    assert.deepEqual(pages, [['7'], ['8']]);
    assert.deepEqual(starts, ['0', '1']);
  });

  it("makes one request for pagination 'none'", async () => {
    let calls = 0;
    server.use(
      http.get(`${SN}/one`, () => {
        calls++;
        return HttpResponse.json({ items: [1, 2] }, { headers: { Link: `<${SN}/one?p=2>; rel="next"` } });
      }),
    );
    const { client } = clientFor({ vendor: vendors.none });
    assert.deepEqual(await collect(client.paginate({ method: 'GET', path: '/one' }, (b) => (b as { items: number[] }).items)), [[1, 2]]);
    assert.equal(calls, 1);
  });

  it('stops a vendor that repeats the same next token instead of looping', async () => {
    server.use(http.get('https://acme.atlassian.example/rest/api/3/search/jql', () => HttpResponse.json({ issues: [{ key: 'A' }], nextPageToken: 'same', isLast: false })));
    const { client } = clientFor({ vendor: vendors.jira, connection: connection({ id: 'jira', baseUrl: 'https://acme.atlassian.example' }) });
    const err = await rejection(collect(client.paginate({ method: 'GET', path: '/rest/api/3/search/jql' }, (b) => (b as { issues: unknown[] }).issues)));
    assert.ok(err instanceof PagingLoopError);
    assert.match(err.message, /returned the same next page twice/);
  });

  it('stops after maxPages even when every page is new', async () => {
    let n = 0;
    server.use(http.get('https://acme.atlassian.example/rest/api/3/search/jql', () => HttpResponse.json({ issues: [{}], nextPageToken: `t${++n}`, isLast: false })));
    const { client } = clientFor({ vendor: vendors.jira, maxPages: 5, connection: connection({ id: 'jira', baseUrl: 'https://acme.atlassian.example' }) });
    let seen = 0;
    const err = await rejection(
      (async () => {
        for await (const _page of client.paginate({ method: 'GET', path: '/rest/api/3/search/jql' }, (b) => (b as { issues: unknown[] }).issues)) seen++;
      })(),
    );
    assert.ok(err instanceof PagingLoopError);
    assert.match(err.message, /still had more pages after 5; stopped/);
    assert.equal(seen, 5);
  });
});
