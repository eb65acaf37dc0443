// The one pager. Each vendor's paging is a configuration (VendorFacts.pagination), not a loop in a
// connector: ServiceNow/GitHub Link headers, Jira's nextPageToken, Azure DevOps' continuation header,
// offset (ServiceNow sysparm_offset, PagerDuty offset/more) and JSM's start/limit/isLastPage.
import type { HttpRequest, HttpResponse, VendorFacts } from '../sdk/index.ts';

export class PagingLoopError extends Error {
  override name = 'PagingLoopError';
}

/** RFC 8288 Link header → the URL with rel="next". Tolerates ServiceNow's `;rel=` (no space) and
 * GitHub's `; rel=`, quoted or bare rel values, and several rels in one parameter. */
export function nextLink(linkHeader: string | undefined): string | null {
  if (!linkHeader) return null;
  const re = /<([^>]*)>((?:\s*;\s*[^;,<]+)*)/g;
  for (let m = re.exec(linkHeader); m; m = re.exec(linkHeader)) {
    const params = m[2] ?? '';
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
    const rels = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (rels.includes('next')) return m[1]!;
  }
  return null;
}

/** PagerDuty's classic pagination: offset+limit may not exceed this. */
const PAGERDUTY_MAX_OFFSET = 10_000;

function asRecord(body: unknown): Record<string, unknown> {
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

type Send = (req: HttpRequest) => Promise<HttpResponse>;

export interface PagerOptions {
  /** Stops a vendor that keeps answering with a next page (or a client bug) from looping forever. */
  maxPages: number;
  connectionId: string;
}

export async function* paginate<T>(
  send: Send,
  pagination: VendorFacts['pagination'],
  first: HttpRequest,
  itemsOf: (body: unknown) => T[],
  opts: PagerOptions,
): AsyncGenerator<T[]> {
  const seen = new Set<string>();
  let req: HttpRequest | null = first;
  let pages = 0;
  // A next-page pointer repeated is a loop, whatever maxPages says.
  const guard = (pointer: string) => {
    if (seen.has(pointer)) {
      throw new PagingLoopError(`connection "${opts.connectionId}": ${first.path} returned the same next page twice (${pointer.slice(0, 80)})`);
    }
    seen.add(pointer);
  };
  while (req) {
    if (pages >= opts.maxPages) {
      throw new PagingLoopError(`connection "${opts.connectionId}": ${first.path} still had more pages after ${opts.maxPages}; stopped`);
    }
    const res: HttpResponse = await send(req);
    pages++;
    const items = itemsOf(res.body);
    yield items;
    const body = asRecord(res.body);
    const current: HttpRequest = req;
    req = null;
    switch (pagination) {
      case 'none':
        break;
      case 'link-header': {
        const next = nextLink(res.headers.link);
        if (next) {
          guard(next);
          // The next URL carries the whole query; it is absolute on the same host (the SSRF guard checks).
          req = { ...current, path: next, query: {} };
        }
        break;
      }
      case 'next-page-token': {
        // Jira /search/jql: no total and no startAt; isLast ends it, a missing token too.
        const token = typeof body.nextPageToken === 'string' ? body.nextPageToken : null;
        if (token && body.isLast !== true) {
          guard(token);
          req =
            current.method === 'GET'
              ? { ...current, query: { ...current.query, nextPageToken: token } }
              : { ...current, body: { ...asRecord(current.body), nextPageToken: token } };
        }
        break;
      }
      case 'continuation-token': {
        // Azure DevOps returns the token in a header and takes it back as a query parameter.
        const token = res.headers['x-ms-continuationtoken'];
        if (token) {
          guard(token);
          req = { ...current, query: { ...current.query, continuationToken: token } };
        }
        break;
      }
      case 'offset': {
        // ServiceNow: sysparm_offset/sysparm_limit (X-Total-Count when counted); PagerDuty: offset/limit + more.
        const sn = current.query?.sysparm_limit !== undefined || current.query?.sysparm_offset !== undefined;
        const offsetKey = sn ? 'sysparm_offset' : 'offset';
        const limitKey = sn ? 'sysparm_limit' : 'limit';
        const offset = Number(current.query?.[offsetKey] ?? 0);
        const limit = current.query?.[limitKey] !== undefined ? Number(current.query[limitKey]) : null;
        const nextOffset = offset + items.length;
        const total = res.headers['x-total-count'] !== undefined ? Number(res.headers['x-total-count']) : null;
        let more: boolean;
        if (typeof body.more === 'boolean') more = body.more;
        else if (total !== null && !Number.isNaN(total)) more = nextOffset < total;
        else more = limit !== null ? items.length >= limit : false;
        if (more && items.length > 0) {
          const query = { ...current.query, [offsetKey]: nextOffset };
          if (!sn) {
            // PagerDuty serves classic offset paging only while offset+limit ≤ 10000, and refuses a request
            // past it: the last page asks for what is left, and more beyond that cannot be read this way.
            if (nextOffset >= PAGERDUTY_MAX_OFFSET) {
              throw new PagingLoopError(
                `connection "${opts.connectionId}": ${first.path} has more than PagerDuty's ${PAGERDUTY_MAX_OFFSET} records by offset; narrow the query (e.g. since/until)`,
              );
            }
            const pageLimit = limit ?? (typeof body.limit === 'number' ? body.limit : null);
            if (pageLimit !== null && nextOffset + pageLimit > PAGERDUTY_MAX_OFFSET) query[limitKey] = PAGERDUTY_MAX_OFFSET - nextOffset;
          }
          req = { ...current, query };
        }
        break;
      }
      case 'start-limit': {
        // JSM servicedeskapi PagedDTO: {start, limit, size, isLastPage, values}.
        const start = Number(body.start ?? current.query?.start ?? 0);
        const size = typeof body.size === 'number' ? body.size : items.length;
        if (body.isLastPage === false && size > 0) req = { ...current, query: { ...current.query, start: start + size } };
        break;
      }
    }
  }
}
