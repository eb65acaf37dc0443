// Reads a mapping file's text into a compiled mapping, once: paths parsed, CEL compiled, value maps and
// defaults checked against the canonical schema. Every problem is reported with file, line and reason.
//
//   system: servicenow
//   record: change_request
//   target: change                   # change | decision (src/mapping/schema.ts)
//   fields:
//     title: short_description       # shorthand for { from: short_description }
//     state:
//       from: state                  # external path (dots, [0], ["key.with.dot"])
//       map: { "-5": draft, "-3": pending-approval }
//       mapDefault: draft            # for values not in the map (otherwise: an error naming the value)
//     plannedWindow.start: { from: start_date, format: servicenow }
//     services: { cel: "[payload.cmdb_ci_name]" }   # CEL over `payload` where a path is not enough
//     requester: { from: requested_by, required: true, default: "unknown@example.com" }
//     environment: { from: u_environment, to: false }   # inbound only
//     labels.window: { toCel: "change.title + ' window'", to: u_window }   # outbound CEL over `change`

import { Environment } from '@marcbachmann/cel-js';
import { isMap, isScalar, LineCounter, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';
import { coerceIn, timeFormats, type TimeFormat } from './coerce.ts';
import { parsePath, type PathSegment } from './path.ts';
import { canonicalField, canonicalSchema, type CanonicalField, type MappingTarget } from './schema.ts';

export interface MappingError {
  file: string;
  line: number;
  reason: string;
}

type CelProgram = (context: Record<string, unknown>) => unknown;

export interface CompiledField {
  canonical: string;
  canonicalSegments: string[];
  schema: CanonicalField;
  line: number;
  from: { text: string; segments: PathSegment[] } | null;
  cel: { text: string; run: CelProgram } | null;
  map: Map<string, unknown> | null;
  mapDefault: { value: unknown } | null;
  default: { value: unknown } | null;
  required: boolean;
  format: TimeFormat;
  /** Outbound: where the value goes (null: not rendered). */
  to: { text: string; segments: PathSegment[] } | null;
  toCel: { text: string; run: CelProgram } | null;
}

export interface Mapping {
  file: string;
  system: string;
  record: string;
  target: MappingTarget;
  fields: CompiledField[];
}

export type CompileResult = { ok: true; mapping: Mapping } | { ok: false; errors: MappingError[] };

const inboundCel = new Environment({ unlistedVariablesAreDyn: false, homogeneousAggregateLiterals: false }).registerVariable('payload', 'dyn');
const outboundCel = new Environment({ unlistedVariablesAreDyn: false, homogeneousAggregateLiterals: false }).registerVariable('change', 'dyn');
const fieldKeys = new Set(['from', 'cel', 'map', 'mapDefault', 'default', 'required', 'format', 'to', 'toCel']);

export function compileMapping(text: string, file: string): CompileResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const errors: MappingError[] = [];
  const lineOf = (node: Node | null | undefined): number => (node?.range ? lineCounter.linePos(node.range[0]).line : 1);
  const fail = (node: Node | null | undefined, reason: string) => errors.push({ file, line: lineOf(node), reason });

  for (const e of doc.errors) errors.push({ file, line: lineCounter.linePos(e.pos[0]).line, reason: e.message.split('\n')[0]! });
  if (errors.length > 0) return { ok: false, errors };
  const root = doc.contents;
  if (!isMap(root)) return { ok: false, errors: [{ file, line: 1, reason: 'a mapping file is a YAML map with system, record, target and fields' }] };

  const top = (key: string) => root.items.find((p) => isScalar(p.key) && p.key.value === key);
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!['system', 'record', 'target', 'fields'].includes(key)) fail(pair.key as Node, `unknown key "${key}" (expected system, record, target, fields)`);
  }
  const text1 = (key: string): string | null => {
    const pair = top(key);
    if (!pair) {
      fail(root, `missing "${key}"`);
      return null;
    }
    if (!isScalar(pair.value) || typeof pair.value.value !== 'string' || pair.value.value === '') {
      fail((pair.value ?? pair.key) as Node, `"${key}" must be a non-empty string`);
      return null;
    }
    return pair.value.value;
  };
  const system = text1('system');
  const record = text1('record');
  const targetText = text1('target');
  let target: MappingTarget | null = null;
  if (targetText !== null) {
    if (targetText in canonicalSchema) target = targetText as MappingTarget;
    else fail(top('target')!.value as Node, `unknown target "${targetText}" (expected ${Object.keys(canonicalSchema).join(' or ')})`);
  }
  const fieldsPair = top('fields');
  if (!fieldsPair || !isMap(fieldsPair.value)) {
    fail((fieldsPair?.value ?? fieldsPair?.key ?? root) as Node, '"fields" must be a map of canonical field → external field');
    return { ok: false, errors };
  }
  if (target === null) return { ok: false, errors };

  const fields: CompiledField[] = [];
  for (const pair of (fieldsPair.value as YAMLMap).items as Pair[]) {
    const compiled = compileField(pair, target, fail, lineOf);
    if (compiled) fields.push(compiled);
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, mapping: { file, system: system!, record: record!, target, fields } };
}

function compileField(
  pair: Pair,
  target: MappingTarget,
  fail: (node: Node | null | undefined, reason: string) => void,
  lineOf: (node: Node | null | undefined) => number,
): CompiledField | null {
  const keyNode = pair.key as Node;
  const canonical = isScalar(pair.key) ? String(pair.key.value) : '';
  const schema = canonicalField(target, canonical);
  if (!schema) {
    fail(keyNode, `unknown canonical field "${canonical}" for target ${target}`);
    return null;
  }
  const field: CompiledField = {
    canonical,
    canonicalSegments: canonical.split('.'),
    schema,
    line: lineOf(keyNode),
    from: null,
    cel: null,
    map: null,
    mapDefault: null,
    default: null,
    required: false,
    format: 'iso',
    to: null,
    toCel: null,
  };
  const value = pair.value as Node | null;
  let spec: Record<string, { node: Node; value: unknown }> = {};
  if (isScalar(value) && typeof value.value === 'string') {
    spec = { from: { node: value, value: value.value } };
  } else if (isMap(value)) {
    for (const p of value.items as Pair[]) {
      const k = isScalar(p.key) ? String(p.key.value) : '';
      if (!fieldKeys.has(k)) {
        fail(p.key as Node, `${canonical}: unknown option "${k}" (expected ${[...fieldKeys].join(', ')})`);
        continue;
      }
      const node = (p.value ?? p.key) as Node;
      spec[k] = { node, value: (p.value as { toJSON?(): unknown } | null)?.toJSON?.() ?? null };
    }
  } else {
    fail(value ?? keyNode, `${canonical}: expected an external path or a map with from/cel/map/default`);
    return null;
  }

  const path = (key: 'from' | 'to') => {
    const s = spec[key];
    if (!s) return null;
    if (typeof s.value !== 'string') {
      fail(s.node, `${canonical}: "${key}" must be a path string${key === 'to' ? ' or false' : ''}`);
      return null;
    }
    const parsed = parsePath(s.value);
    if (!parsed.ok) {
      fail(s.node, `${canonical}: bad path "${s.value}": ${parsed.reason}`);
      return null;
    }
    return { text: s.value, segments: parsed.segments };
  };
  const cel = (key: 'cel' | 'toCel') => {
    const s = spec[key];
    if (!s) return null;
    if (typeof s.value !== 'string') {
      fail(s.node, `${canonical}: "${key}" must be a CEL expression string`);
      return null;
    }
    try {
      const program = (key === 'cel' ? inboundCel : outboundCel).parse(s.value);
      const checked = program.check();
      if (!checked.valid) {
        fail(s.node, `${canonical}: bad CEL: ${firstLine(checked.error)}`);
        return null;
      }
      return { text: s.value, run: program as unknown as CelProgram };
    } catch (e) {
      fail(s.node, `${canonical}: bad CEL: ${firstLine(e)}`);
      return null;
    }
  };

  field.from = path('from');
  field.cel = cel('cel');
  if (spec.from && spec.cel) fail(spec.cel.node, `${canonical}: use either "from" or "cel", not both`);
  if (!spec.from && !spec.cel && !spec.default && !spec.toCel) fail(keyNode, `${canonical}: needs "from", "cel" or "default"`);
  if (spec.to && spec.to.value === false) field.to = null;
  else if (spec.to) field.to = path('to');
  else field.to = field.from;
  field.toCel = cel('toCel');
  if (field.toCel && !field.to) fail(spec.toCel!.node, `${canonical}: "toCel" needs "to" (or "from") to say where the value goes`);

  if (spec.format) {
    if (typeof spec.format.value === 'string' && (timeFormats as readonly string[]).includes(spec.format.value)) field.format = spec.format.value as TimeFormat;
    else fail(spec.format.node, `${canonical}: format must be one of ${timeFormats.join(', ')}`);
    if (schema.type !== 'datetime') fail(spec.format.node, `${canonical}: "format" applies to time fields only`);
  }
  if (spec.required) {
    if (typeof spec.required.value === 'boolean') field.required = spec.required.value;
    else fail(spec.required.node, `${canonical}: "required" must be true or false`);
  }
  const checkCanonical = (node: Node, v: unknown, what: string) => {
    if (v === null) {
      if (!schema.nullable) fail(node, `${canonical}: ${what} is null but ${canonical} cannot be null`);
      return;
    }
    if (schema.values && !schema.values.includes(String(v))) {
      fail(node, `${canonical}: ${what} "${String(v)}" is not one of ${schema.values.join(', ')}`);
      return;
    }
    const coerced = coerceIn(v, schema.type, field.format);
    if (!coerced.ok) fail(node, `${canonical}: ${what}: ${coerced.reason}`);
  };
  if (spec.map) {
    const m = spec.map.value;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      fail(spec.map.node, `${canonical}: "map" must be a map of external value → canonical value`);
    } else {
      // Entries in file order (a plain object would move integer-like keys such as "3" first), so the
      // first external value listed for a canonical value is the one render writes back.
      field.map = new Map();
      const mapNode = spec.map.node;
      if (isMap(mapNode)) {
        for (const p of mapNode.items as Pair[]) {
          const mapped = (p.value as { toJSON?(): unknown } | null)?.toJSON?.() ?? null;
          checkCanonical((p.value ?? p.key) as Node, mapped, 'mapped value');
          field.map.set(isScalar(p.key) ? String(p.key.value) : JSON.stringify(p.key), mapped);
        }
      }
    }
  }
  if (spec.mapDefault) {
    if (!field.map) fail(spec.mapDefault.node, `${canonical}: "mapDefault" needs "map"`);
    checkCanonical(spec.mapDefault.node, spec.mapDefault.value, 'mapDefault');
    field.mapDefault = { value: spec.mapDefault.value };
  }
  if (spec.default) {
    checkCanonical(spec.default.node, spec.default.value, 'default');
    field.default = { value: spec.default.value };
  }
  return field;
}

function firstLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n')[0]!.trim();
}
