// Reading a request's Jira Service Management approvals: GET /rest/servicedeskapi/request/{key}/approval,
// a PagedDTO paged by start/limit/isLastPage (the shared pager's 'start-limit', asked for per call: the
// connection's usual paging is Jira search's nextPageToken).
import type { HttpClient } from '../../src/sdk/index.ts';

export interface ApprovalDTO {
  id: string;
  name: string;
  finalDecision: 'pending' | 'approved' | 'declined';
  canAnswerApproval: boolean;
  approvers: { approver: { accountId: string; emailAddress?: string; displayName?: string }; approverDecision: string }[];
}

interface PagedApprovals {
  values?: ApprovalDTO[];
}

/** JSM's page maximum. */
const limit = 50;

export function approvalsPath(key: string, id?: string): string {
  return `/rest/servicedeskapi/request/${encodeURIComponent(key)}/approval${id ? `/${encodeURIComponent(id)}` : ''}`;
}

/** Every approval of the request, all pages. */
export async function listApprovals(http: HttpClient, key: string): Promise<ApprovalDTO[]> {
  const all: ApprovalDTO[] = [];
  const pages = http.paginate<ApprovalDTO>(
    { method: 'GET', path: approvalsPath(key), query: { start: 0, limit } },
    (body) => {
      const values = (body as PagedApprovals | null)?.values;
      return Array.isArray(values) ? values : [];
    },
    { pagination: 'start-limit' },
  );
  for await (const page of pages) all.push(...page);
  return all;
}
