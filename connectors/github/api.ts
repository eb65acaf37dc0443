// Facts about GitHub's REST API the actions share.
import type { ConnectionSettings } from '../../src/sdk/index.ts';

export const githubHeaders = { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' };

/** github.com's API, or a GitHub Enterprise Server's (https://ghe.example.com/api/v3) from baseUrl. */
export function apiBase(connection: ConnectionSettings): URL {
  return new URL((connection.baseUrl ?? 'https://api.github.com').replace(/\/+$/, ''));
}

const callbackPath = /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)\/deployment_protection_rule$/;

/**
 * The deployment_callback_url, checked: it must be on the connection's API host and be a deployment
 * protection rule callback. A delivery is attacker-controlled input until verified, and even a verified
 * one must not steer the installation token to another host (SSRF).
 */
export function checkCallbackUrl(
  connection: ConnectionSettings,
  callbackUrl: string,
): { ok: true; path: string; repository: string; runId: string } | { ok: false; reason: string } {
  let url: URL;
  try {
    url = new URL(callbackUrl);
  } catch {
    return { ok: false, reason: `deployment callback URL "${callbackUrl}" is not a URL` };
  }
  const base = apiBase(connection);
  if (url.origin !== base.origin) {
    return { ok: false, reason: `refused deployment callback URL on ${url.origin}: only the connection's API host ${base.origin} is called` };
  }
  const basePath = base.pathname.replace(/\/+$/, '');
  if (!url.pathname.startsWith(`${basePath}/`)) return { ok: false, reason: `refused deployment callback URL ${url.pathname}: outside ${basePath || '/'}` };
  const rest = url.pathname.slice(basePath.length);
  const m = callbackPath.exec(rest);
  if (!m || url.search !== '') return { ok: false, reason: `refused deployment callback URL ${url.pathname}: not a deployment protection rule callback` };
  return { ok: true, path: rest, repository: `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`, runId: m[3]! };
}
