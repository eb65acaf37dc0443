// Atlassian Document Format: Jira Cloud v3 rejects plain-string comment bodies with 400.
export function adf(text: string): Record<string, unknown> {
  return {
    type: 'doc',
    version: 1,
    content: text.split('\n').map((line) => ({ type: 'paragraph', content: line === '' ? [] : [{ type: 'text', text: line }] })),
  };
}

export function issuePath(key: string, rest = ''): string {
  return `/rest/api/3/issue/${encodeURIComponent(key)}${rest}`;
}
