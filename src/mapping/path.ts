// External field paths: dot segments plus brackets for indexes and for keys a dot cannot express,
// e.g. `fields.customfield_10050.value`, `pull_requests[0].title`, `record["approver.email"]`
// (ServiceNow returns dot-walked fields as flat keys with a dot inside).

export type PathSegment = string | number;

export type ParsedPath = { ok: true; segments: PathSegment[] } | { ok: false; reason: string };

const identifier = /^[A-Za-z_$][A-Za-z0-9_$-]*/;

export function parsePath(text: string): ParsedPath {
  const segments: PathSegment[] = [];
  let i = 0;
  if (text.length === 0) return { ok: false, reason: 'the path is empty' };
  while (i < text.length) {
    const rest = text.slice(i);
    if (rest.startsWith('[')) {
      const index = /^\[(\d+)\]/.exec(rest);
      const quoted = /^\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\]/.exec(rest);
      if (index) {
        segments.push(Number(index[1]));
        i += index[0].length;
      } else if (quoted) {
        segments.push((quoted[1] ?? quoted[2] ?? '').replace(/\\(.)/g, '$1'));
        i += quoted[0].length;
      } else {
        return { ok: false, reason: `bad bracket at character ${i + 1}: use [<number>] or ["key"]` };
      }
    } else {
      if (segments.length > 0) {
        if (!rest.startsWith('.')) return { ok: false, reason: `expected "." or "[" at character ${i + 1}` };
        i += 1;
      }
      const id = identifier.exec(text.slice(i));
      if (!id) return { ok: false, reason: `expected a field name at character ${i + 1}` };
      segments.push(id[0]);
      i += id[0].length;
    }
  }
  return { ok: true, segments };
}

/** The value at the path, or undefined when any step is missing (a string has no fields). */
export function getPath(value: unknown, segments: readonly PathSegment[]): unknown {
  let current = value;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined;
    if (typeof segment === 'number') {
      if (!Array.isArray(current)) return undefined;
      current = current[segment];
    } else {
      if (Array.isArray(current) || !Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return current;
}

/** Writes the value at the path, creating objects (or arrays, for numeric segments) on the way. */
export function setPath(target: Record<string, unknown>, segments: readonly PathSegment[], value: unknown): void {
  let current: Record<string, unknown> | unknown[] = target;
  segments.forEach((segment, n) => {
    const last = n === segments.length - 1;
    const container = current as Record<string | number, unknown>;
    if (last) {
      container[segment] = value;
      return;
    }
    let next = container[segment];
    if (next === null || typeof next !== 'object') {
      next = typeof segments[n + 1] === 'number' ? [] : {};
      container[segment] = next;
    }
    current = next as Record<string, unknown>;
  });
}
