// Vendor endpoints the connectors call that the shared fakes (test/fakes/) do not serve yet, answered
// from the fakes' own state with the vendors' documented shapes. Remove an entry once its fake serves it.
//   GitHub:     GET /repos/{owner}/{repo}/actions/runs/{run_id} → { id, status } ("waiting" while the
//               deployment protection rule is unanswered) — read by the answer-gate action first.
// (The ServiceNow fake serves sys_journal_field itself now: its proxy only passes calls through.)
// In-process hubs get them through msw (everything else passes through to the fakes); a hub in another
// process gets them from an HTTP proxy in front of the fake, which its connection's baseUrl points at.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import type { FakeGitHub } from '../fakes/github.ts';
import type { FakeServiceNow } from '../fakes/servicenow.ts';

type Answer = { status: number; body: unknown } | null;

function githubRun(gh: FakeGitHub, method: string, url: URL): Answer {
  const m = method === 'GET' ? /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)$/.exec(url.pathname) : null;
  if (!m) return null;
  const gate = gh.gates.get(`${m[1]}/${m[2]}/${m[3]}`);
  if (!gate) return { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' } };
  return { status: 200, body: { id: Number(m[3]), status: gate.state === 'pending' ? 'waiting' : 'completed', conclusion: gate.state === 'rejected' ? 'failure' : null } };
}

/** For an in-process hub. */
export function fillFakeGaps(gh: FakeGitHub, _sn: FakeServiceNow): { close(): void } {
  const reply = (a: Answer) => HttpResponse.json(a!.body as Record<string, unknown>, { status: a!.status });
  const server = setupServer(
    http.get(`${gh.url}/repos/:owner/:repo/actions/runs/:runId`, ({ request }) => reply(githubRun(gh, 'GET', new URL(request.url)))),
  );
  server.listen({ onUnhandledFrame: 'bypass' });
  return { close: () => server.close() };
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** For a hub in another process: a proxy in front of the fake. */
export async function startGapProxy(kind: 'github' | 'servicenow', fake: FakeGitHub | FakeServiceNow): Promise<{ url: string; close(): Promise<void> }> {
  const answer = (method: string, url: URL): Answer =>
    kind === 'github' ? githubRun(fake as FakeGitHub, method, url) : null;
  const hop = ['host', 'content-length', 'connection', 'transfer-encoding', 'content-encoding'];
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
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !hop.includes(k)) headers[k] = v;
    const upstream = await fetch(url, { method: req.method, headers, body: body.length ? body : null, redirect: 'manual' });
    const out: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (!hop.includes(k)) out[k] = v;
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
