// Two vendor endpoints the connectors call that the shared fakes (test/fakes/) do not serve yet, answered
// (through msw, in this process) from the fakes' own state with the vendors' documented shapes. Every
// other request goes to the fakes untouched. Remove an entry once its fake serves the endpoint.
//   GitHub:     GET /repos/{owner}/{repo}/actions/runs/{run_id} → { id, status } ("waiting" while the
//               deployment protection rule is unanswered) — read by the answer-gate action first.
//   ServiceNow: GET /api/now/table/sys_journal_field?sysparm_query=element_id=…^element=work_notes^valueLIKE…
//               — how the comment action finds a work note it already wrote.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
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

// ---- the same two answers for a hub in another process (end-to-end tests), as an HTTP proxy in front
// of each fake: the hub's connection baseUrl points at the proxy.
type Answer = { status: number; body: unknown } | null;

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startGapProxy(kind: 'github' | 'servicenow', fake: FakeGitHub | FakeServiceNow): Promise<{ url: string; close(): Promise<void> }> {
  const answer = (method: string, url: URL): Answer => {
    if (method !== 'GET') return null;
    if (kind === 'github') {
      const m = /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)$/.exec(url.pathname);
      if (!m) return null;
      const gate = (fake as FakeGitHub).gates.get(`${m[1]}/${m[2]}/${m[3]}`);
      if (!gate) return { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' } };
      return { status: 200, body: { id: Number(m[3]), status: gate.state === 'pending' ? 'waiting' : 'completed' } };
    }
    if (url.pathname !== '/api/now/table/sys_journal_field') return null;
    const conditions = (url.searchParams.get('sysparm_query') ?? '').split(/(?<!\^)\^(?!\^)/).map((c) => c.replaceAll('^^', '^'));
    const rows = (fake as FakeServiceNow).journal.filter((j) => conditions.every((c) =>
      c.startsWith('element_id=') ? j.sysId === c.slice(11) : c.startsWith('element=') ? j.field === c.slice(8) : c.startsWith('valueLIKE') ? j.text.includes(c.slice(9)) : true));
    return { status: 200, body: { result: rows.map((_, i) => ({ sys_id: `journal${i}` })) } };
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', fake.url);
    const own = answer(req.method ?? 'GET', url);
    if (own) {
      res.writeHead(own.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(own.body));
      return;
    }
    const body = await readAll(req);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
    const upstream = await fetch(url, { method: req.method, headers, body: body.length ? body : null, redirect: 'manual' });
    const out: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (!['content-length', 'transfer-encoding', 'content-encoding', 'connection'].includes(k)) out[k] = v;
    });
    res.writeHead(upstream.status, out);
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
