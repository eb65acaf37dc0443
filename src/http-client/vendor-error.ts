// Pulls the human-readable message out of each vendor's error body, so an HttpError says what the
// vendor said instead of "400".

/** The vendor's own words for an error body, or null when the body has none. */
export function vendorErrorMessage(body: unknown): string | null {
  if (typeof body === 'string') {
    const text = body.trim();
    // An HTML error page is noise in a log line; only short plain text is worth quoting.
    return text && !text.startsWith('<') ? text.slice(0, 300) : null;
  }
  if (!body || typeof body !== 'object') return null;
  const b = body as Record<string, unknown>;
  const parts: string[] = [];
  // ServiceNow and PagerDuty: {error:{message, detail|errors}}; GitLab sometimes {error:"..."}.
  if (b.error && typeof b.error === 'object') {
    const e = b.error as Record<string, unknown>;
    if (typeof e.message === 'string') parts.push(e.message);
    if (typeof e.detail === 'string' && e.detail) parts.push(e.detail);
    if (Array.isArray(e.errors)) parts.push(...e.errors.filter((x): x is string => typeof x === 'string'));
  } else if (typeof b.error === 'string') {
    parts.push(b.error);
  }
  // Jira: {errorMessages:[...], errors:{field: message}}.
  if (Array.isArray(b.errorMessages)) parts.push(...b.errorMessages.filter((x): x is string => typeof x === 'string'));
  // JSM servicedeskapi: {errorMessage, i18nErrorMessage:{i18nKey, parameters}}, a single string, not Jira's array.
  if (typeof b.errorMessage === 'string' && b.errorMessage) parts.push(b.errorMessage);
  if (b.errors && typeof b.errors === 'object' && !Array.isArray(b.errors)) {
    for (const [field, msg] of Object.entries(b.errors as Record<string, unknown>)) {
      if (typeof msg === 'string') parts.push(`${field}: ${msg}`);
    }
  }
  // GitHub, GitLab, Azure DevOps: {message}; GitLab field errors {message:{field:[..]}}.
  if (typeof b.message === 'string') parts.push(b.message);
  else if (b.message && typeof b.message === 'object') {
    for (const [field, msgs] of Object.entries(b.message as Record<string, unknown>)) {
      parts.push(`${field}: ${Array.isArray(msgs) ? msgs.join(', ') : String(msgs)}`);
    }
  }
  // GitHub: what a 422 refused is in errors[]: {resource, field, code} or {code: "custom", message}.
  if (Array.isArray(b.errors)) {
    for (const e of b.errors as unknown[]) {
      if (typeof e === 'string') parts.push(e);
      else if (e && typeof e === 'object') {
        const { field, code, message } = e as Record<string, unknown>;
        if (typeof message === 'string') parts.push(message);
        else if (typeof code === 'string') parts.push(typeof field === 'string' ? `${field}: ${code}` : code);
      }
    }
  }
  // SCIM: {schemas:[...Error], status:"400", scimType, detail}.
  if (typeof b.detail === 'string' && !parts.includes(b.detail)) parts.push(b.detail);
  return parts.length ? parts.join(' — ') : null;
}
