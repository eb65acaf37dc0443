// Reading a request's Jira Service Management approvals: GET /rest/servicedeskapi/request/{key}/approval,
// a PagedDTO paged by start/limit/isLastPage. This connection's shared pager follows Jira search's
// nextPageToken (one pagination style per connection), so the servicedeskapi paging is followed here,
// bounded like the pager is.
import type { HttpClient } from '../../src/sdk/index.ts';

export interface ApprovalDTO {
  id: string;
  name: string;
  finalDecision: 'pending' | 'approved' | 'declined';
  canAnswerApproval: boolean;
  approvers: { approver: { accountId: string; emailAddress?: string; displayName?: string }; approverDecision: string }[];
}

interface PagedApprovals {
  size?: number;
  start?: number;
  isLastPage?: boolean;
  values?: ApprovalDTO[];
}

/** JSM's page maximum. */
const limit = 50;
/** A request with more than a thousand approvals is a loop, not a request. */
const maxPages = 20;

export function approvalsPath(key: string, id?: string): string {
  return `/rest/servicedeskapi/request/${encodeURIComponent(key)}/approval${id ? `/${encodeURIComponent(id)}` : ''}`;
}

/** Every approval of the request, all pages. */
export async function listApprovals(http: HttpClient, key: string): Promise<ApprovalDTO[]> {
  const all: ApprovalDTO[] = [];
  let start = 0;
  for (let page = 0; page < maxPages; page++) {
    const res = await http.request<PagedApprovals>({ method: 'GET', path: approvalsPath(key), query: { start, limit } });
    const values = Array.isArray(res.body.values) ? res.body.values : [];
    all.push(...values);
    const size = typeof res.body.size === 'number' ? res.body.size : values.length;
    if (res.body.isLastPage !== false || size === 0) return all;
    start = (typeof res.body.start === 'number' ? res.body.start : start) + size;
  }
  throw new Error(`${approvalsPath(key)} still had more pages after ${maxPages}; stopped`);
}
