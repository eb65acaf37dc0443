// Two vendor endpoints the connectors call that the shared fakes (test/fakes/) do not serve yet, answered
// (through msw, in this process) from the fakes' own state with the vendors' documented shapes. Every
// other request goes to the fakes untouched. Remove an entry once its fake serves the endpoint.
//   GitHub:     GET /repos/{owner}/{repo}/actions/runs/{run_id} → { id, status } ("waiting" while the
//               deployment protection rule is unanswered) — read by the answer-gate action first.
//   ServiceNow: GET /api/now/table/sys_journal_field?sysparm_query=element_id=…^element=work_notes^valueLIKE…
//               — how the comment action finds a work note it already wrote.
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import type { FakeGitHub } from '../fakes/github.ts';
import type { FakeServiceNow } from '../fakes/servicenow.ts';

export function fillFakeGaps(gh: FakeGitHub, sn: FakeServiceNow): { close(): void } {
  const server = setupServer(
    http.get(`${gh.url}/repos/:owner/:repo/actions/runs/:runId`, ({ params }) => {
      const gate = gh.gates.get(`${String(params.owner)}/${String(params.repo)}/${String(params.runId)}`);
      if (!gate) return HttpResponse.json({ message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' }, { status: 404 });
      return HttpResponse.json({ id: Number(params.runId), status: gate.state === 'pending' ? 'waiting' : 'completed', conclusion: gate.state === 'rejected' ? 'failure' : null });
    }),
    http.get(`${sn.url}/api/now/table/sys_journal_field`, ({ request }) => {
      const query = new URL(request.url).searchParams.get('sysparm_query') ?? '';
      // Encoded query: '^' separates conditions, '^^' is a literal caret.
      const conditions = query.split(/(?<!\^)\^(?!\^)/).map((c) => c.replaceAll('^^', '^'));
      const rows = sn.journal.filter((j) => conditions.every((c) => {
        if (c.startsWith('element_id=')) return j.sysId === c.slice('element_id='.length);
        if (c.startsWith('element=')) return j.field === c.slice('element='.length);
        if (c.startsWith('valueLIKE')) return j.text.includes(c.slice('valueLIKE'.length));
        return true;
      }));
      return HttpResponse.json({ result: rows.map((_, i) => ({ sys_id: `journal${i}` })) });
    }),
  );
  server.listen({ onUnhandledFrame: 'bypass' });
  return { close: () => server.close() };
}
