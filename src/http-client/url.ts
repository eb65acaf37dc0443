// Builds the URL of a request and refuses any host but the connection's own (SSRF guard): vendor
// payloads carry absolute URLs (GitHub's deployment_callback_url, ServiceNow's Link header), and a forged
// delivery must not be able to point the hub's credentials at another host.
import type { HttpRequest } from '../sdk/index.ts';

export class RefusedUrlError extends Error {
  override name = 'RefusedUrlError';
}

export function buildUrl(baseUrl: string | null, req: Pick<HttpRequest, 'path' | 'query'>, connectionId: string): URL {
  if (!baseUrl) throw new RefusedUrlError(`connection "${connectionId}" has no baseUrl, so "${req.path}" cannot be called`);
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new RefusedUrlError(`connection "${connectionId}": baseUrl "${baseUrl}" is not a valid URL`);
  }
  // Credentials belong in auth: fetch refuses a URL with user-info, quoting it whole in its error, which
  // would carry the secret into messages, the job ledger and health. The URL is not repeated here.
  if (base.username || base.password) {
    throw new RefusedUrlError(`connection "${connectionId}": baseUrl has a user name or password in it; put credentials in auth instead`);
  }
  let url: URL;
  if (/^[a-z][a-z0-9+.-]*:/i.test(req.path) || req.path.startsWith('//')) {
    try {
      url = new URL(req.path, base);
    } catch {
      throw new RefusedUrlError(`connection "${connectionId}": "${req.path}" is not a valid URL`);
    }
    if (url.origin !== base.origin) {
      throw new RefusedUrlError(
        `connection "${connectionId}": refused to call ${url.origin} because it is not the connection's host ${base.origin}`,
      );
    }
  } else {
    // Concatenate rather than resolve: a baseUrl with a path (https://dev.azure.com/org/project) keeps it.
    const prefix = base.href.replace(/\/+$/, '');
    const path = req.path.startsWith('/') ? req.path : `/${req.path}`;
    url = new URL(prefix + path);
    if (url.origin !== base.origin) {
      throw new RefusedUrlError(`connection "${connectionId}": path "${req.path}" leaves the connection's host`);
    }
  }
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (v !== undefined) url.searchParams.set(k, String(v));
  }
  return url;
}
