// The directory (people, groups, roles, managers, time zones, on-call, holidays, freezes) as the
// engine sees it, loaded from a YAML file. SCIM/PagerDuty sync can replace the file later; the shape
// stays the core's `Directory`.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { connectors } from '../../connectors/index.ts';
import type { HubConfig } from '../config/types.ts';
import type { Directory, Person } from '../core/types.ts';

/** A directory file that cannot be used: names the file, the place inside it and why. */
export class DirectoryFileError extends Error {
  override name = 'DirectoryFileError';
}

/** `directory` from the hub config when the config has it, else directory.yaml next to the policy file. */
export function directoryPath(config: HubConfig): string {
  const configured = (config as HubConfig & { directory?: unknown }).directory;
  return typeof configured === 'string' && configured !== '' ? configured : join(dirname(config.policy), 'directory.yaml');
}

export async function loadDirectory(path: string): Promise<Directory> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DirectoryFileError(`${path}: cannot read the directory file (${(err as NodeJS.ErrnoException).code ?? String(err)}); hub.yaml's directory names it (default: directory.yaml next to the policy)`);
  }
  return parseDirectory(text, path);
}

/** Parses and validates directory YAML; errors name `file:line: path: reason`, as hub.yaml and the policy do. */
export function parseDirectory(text: string, file = 'directory.yaml'): Directory {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
    throw new DirectoryFileError(`${file}${line ? `:${line}` : ''}: not valid YAML: ${e.message.split('\n')[0]}`);
  }
  const fail = (path: (string | number)[], reason: string): never => {
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    const line = node?.range ? lines.linePos(node.range[0]).line : undefined;
    throw new DirectoryFileError(`${file}${line ? `:${line}` : ''}: ${formatPath(path)}: ${reason}`);
  };
  const root = doc.toJS() as unknown;
  if (!isObject(root)) return fail([], 'expected a mapping with `people`');
  if (!Array.isArray(root.people)) return fail(['people'], 'expected a list of people');

  const people: Record<string, Person> = {};
  const accounts: Record<string, Record<string, string>> = {};
  const tools = connectors.map((c) => c.id);
  root.people.forEach((raw: unknown, i: number) => {
    const at = (...rest: (string | number)[]) => ['people', i, ...rest];
    if (!isObject(raw)) return fail(at(), 'expected a mapping');
    const id = raw.id;
    if (typeof id !== 'string' || !id.includes('@')) return fail(at('id'), 'expected the person\'s email');
    if (people[id]) return fail(at('id'), `${id} is listed twice`);
    const timeZone = raw.timeZone ?? 'UTC';
    if (typeof timeZone !== 'string' || !validTimeZone(timeZone)) return fail(at('timeZone'), `unknown IANA time zone ${JSON.stringify(timeZone)}`);
    let workingHours: Person['workingHours'] = null;
    if (raw.workingHours != null) {
      const w = raw.workingHours;
      if (!isObject(w) || !isClock(w.start) || !isClock(w.end)) return fail(at('workingHours'), 'expected { start: "HH:MM", end: "HH:MM", days: [1..7] }');
      const days = w.days ?? [1, 2, 3, 4, 5];
      if (!Array.isArray(days) || !days.every((d) => Number.isInteger(d) && d >= 1 && d <= 7)) return fail(at('workingHours', 'days'), 'expected day numbers 1 (Monday) to 7 (Sunday)');
      workingHours = { start: w.start, end: w.end, days: days as number[] };
    }
    const groups = raw.groups ?? [];
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) return fail(at('groups'), 'expected a list of group names');
    const roles = raw.roles ?? [];
    if (!Array.isArray(roles)) return fail(at('roles'), 'expected a list of { role, team }');
    const parsedRoles = roles.map((r: unknown, j: number) => {
      if (typeof r === 'string') return { role: r, team: null };
      if (!isObject(r) || typeof r.role !== 'string') return fail(at('roles', j), 'expected a role name or { role, team }');
      if (r.team != null && typeof r.team !== 'string') return fail(at('roles', j, 'team'), 'expected a team name');
      return { role: r.role, team: (r.team as string | undefined) ?? null };
    });
    let outOfOffice: Person['outOfOffice'] = null;
    if (raw.outOfOffice != null) {
      const o = raw.outOfOffice;
      if (!isObject(o) || !isInstant(o.from) || !isInstant(o.until)) return fail(at('outOfOffice'), 'expected { from: ISO time, until: ISO time, delegate? }');
      if (o.delegate != null && typeof o.delegate !== 'string') return fail(at('outOfOffice', 'delegate'), 'expected a person id');
      outOfOffice = { from: toIso(o.from), until: toIso(o.until), delegate: (o.delegate as string | undefined) ?? null };
    }
    if (raw.manager != null && typeof raw.manager !== 'string') return fail(at('manager'), 'expected a person id');
    if (raw.active != null && typeof raw.active !== 'boolean') return fail(at('active'), 'expected true or false');
    if (raw.accounts != null) {
      if (!isObject(raw.accounts)) return fail(at('accounts'), `expected tool → account name(s), e.g. { jira: <Atlassian account id>, servicenow: <user_name>, github: <login> }`);
      for (const [tool, names] of Object.entries(raw.accounts)) {
        if (!tools.includes(tool)) return fail(at('accounts', tool), `unknown tool "${tool}" (known: ${tools.join(', ')})`);
        const list = Array.isArray(names) ? names : [names];
        list.forEach((name: unknown, j: number) => {
          const where = Array.isArray(names) ? at('accounts', tool, j) : at('accounts', tool);
          if (typeof name !== 'string' || name.trim() === '') return fail(where, `expected the person's ${tool} account name (or a list of them)`);
          // Tools compare these without case (GitHub logins, ServiceNow user names); account ids are lower case anyway.
          const key = name.trim().toLowerCase();
          const taken = (accounts[tool] ??= {})[key];
          if (taken !== undefined) return fail(where, `${tool} account "${name}" is already ${taken === id ? 'listed for this person' : `${taken}'s`}; one account names one person`);
          accounts[tool][key] = id;
        });
      }
    }
    people[id] = {
      id,
      name: typeof raw.name === 'string' ? raw.name : id,
      timeZone,
      workingHours,
      manager: (raw.manager as string | undefined) ?? null,
      groups: groups as string[],
      roles: parsedRoles,
      active: (raw.active as boolean | undefined) ?? true,
      outOfOffice,
    };
  });
  root.people.forEach((raw: unknown, i: number) => {
    const p = raw as { id: string; manager?: string; outOfOffice?: { delegate?: string } };
    if (p.manager && !people[p.manager]) fail(['people', i, 'manager'], `${p.manager} is not in the directory`);
    const delegate = p.outOfOffice?.delegate;
    if (delegate && !people[delegate]) fail(['people', i, 'outOfOffice', 'delegate'], `${delegate} is not in the directory`);
  });

  const oncall: Record<string, string[]> = {};
  if (root.oncall != null) {
    if (!isObject(root.oncall)) return fail(['oncall'], 'expected schedule name → list of person ids');
    for (const [schedule, ids] of Object.entries(root.oncall)) {
      if (!Array.isArray(ids)) return fail(['oncall', schedule], 'expected a list of person ids');
      ids.forEach((pid: unknown, j: number) => {
        if (typeof pid !== 'string' || !people[pid]) fail(['oncall', schedule, j], `${String(pid)} is not in the directory`);
      });
      oncall[schedule] = ids as string[];
    }
  }
  const holidays = root.holidays ?? [];
  if (!Array.isArray(holidays)) return fail(['holidays'], 'expected a list of dates');
  const holidayDates = holidays.map((h: unknown, j: number) => {
    const s = h instanceof Date ? h.toISOString().slice(0, 10) : h;
    if (typeof s !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return fail(['holidays', j], 'expected a date YYYY-MM-DD');
    return s;
  });
  const freezes = root.freezes ?? [];
  if (!Array.isArray(freezes)) return fail(['freezes'], 'expected a list of { from, until, reason }');
  const parsedFreezes = freezes.map((f: unknown, j: number) => {
    if (!isObject(f) || !isInstant(f.from) || !isInstant(f.until) || typeof f.reason !== 'string') return fail(['freezes', j], 'expected { from: ISO time, until: ISO time, reason }');
    return { from: toIso(f.from), until: toIso(f.until), reason: f.reason };
  });
  return { people, oncall, holidays: holidayDates, freezes: parsedFreezes, accounts };
}

/** The directory person a tool's name for someone stands for: a person id (email) as is, else the
 * account the directory lists for that tool; a name nobody claims stays as the tool gave it. */
export function personFor(directory: Directory, tool: string, name: string): string {
  if (directory.people[name]) return name;
  return directory.accounts?.[tool]?.[name.trim().toLowerCase()] ?? name;
}

function formatPath(path: (string | number)[]): string {
  return path.length === 0 ? '(top)' : path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}
function isClock(v: unknown): v is string {
  return typeof v === 'string' && /^([01]\d|2[0-3]):[0-5]\d$/.test(v);
}
function isInstant(v: unknown): boolean {
  return v instanceof Date || (typeof v === 'string' && !Number.isNaN(Date.parse(v)));
}
function toIso(v: unknown): string {
  return (v instanceof Date ? v : new Date(v as string)).toISOString();
}
function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
