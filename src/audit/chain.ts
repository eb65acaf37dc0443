// The audit chain: every transition carries the hash of the one before it, so editing, deleting,
// inserting or reordering stored entries breaks the chain at a place `verifyChain` can name.
// Pure: no store, no file; both store adapters and the export use these functions.
import { createHash } from 'node:crypto';
import type { Json, Transition, TransitionInput } from '../store/port.ts';

/** prevHash of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** Canonical JSON (RFC 8785-like): object keys sorted by UTF-16 code units, no whitespace, numbers
 * and strings as ECMAScript serialises them (which is what RFC 8785 specifies for both). The same
 * entry therefore always hashes the same, whichever store or driver read it back. */
export function canonicalJson(value: Json): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      // Plain loops and concatenation: verify runs this for every entry of the log.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i] as Json);
        return `${out}]`;
      }
      const keys = Object.keys(value).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = value[k];
        if (v === undefined) continue;
        out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} is not JSON`);
  }
}

/** The fields a hash covers: the entry itself and its seq (so moving an entry changes its hash). */
export function hashedFields(seq: number, e: TransitionInput): { [key: string]: Json } {
  return {
    seq,
    changeId: e.changeId,
    action: e.action,
    actor: e.actor,
    sourceTool: e.sourceTool,
    at: e.at,
    before: e.before,
    after: e.after,
    rationale: e.rationale,
    correlation: e.correlation,
  };
}

/** SHA-256 hex over the previous hash, a newline and the canonical encoding of the entry (with its seq):
 * sha256(prevHash + "\n" + canonicalJson(hashedFields(seq, entry))). */
export function hashEntry(prevHash: string, entry: TransitionInput & { seq: number }): string {
  return createHash('sha256').update(prevHash).update('\n').update(encodeEntry(entry)).digest('hex');
}

const text = (v: string | null) => (v === null ? 'null' : JSON.stringify(v));
/** canonicalJson(hashedFields(entry.seq, entry)) with the top-level keys written in their sorted
 * order directly: verify hashes a million entries, and sorting the same ten keys each time is a
 * third of that work. The chain unit test checks both give the same text. */
export function encodeEntry(e: TransitionInput & { seq: number }): string {
  if (!Number.isInteger(e.seq)) throw new TypeError(`seq: ${e.seq} is not an integer`);
  return `{"action":${JSON.stringify(e.action)},"actor":${JSON.stringify(e.actor)},"after":${canonicalJson(e.after)},"at":${JSON.stringify(e.at)},`
    + `"before":${canonicalJson(e.before)},"changeId":${text(e.changeId)},"correlation":${text(e.correlation)},`
    + `"rationale":${text(e.rationale)},"seq":${e.seq},"sourceTool":${JSON.stringify(e.sourceTool)}}`;
}

/** Builds the stored form of entry number `seq` after `prevHash` (what an adapter's append writes). */
export function sealEntry(seq: number, prevHash: string, input: TransitionInput): Transition {
  const entry = { ...pickInput(input), seq };
  return { ...entry, prevHash, hash: hashEntry(prevHash, entry) };
}

function pickInput(e: TransitionInput): TransitionInput {
  return {
    changeId: e.changeId, action: e.action, actor: e.actor, sourceTool: e.sourceTool, at: e.at,
    before: e.before, after: e.after, rationale: e.rationale, correlation: e.correlation,
  };
}

// ---------------------------------------------------------------- verify

export interface Checkpoint {
  seq: number;
  hash: string;
}
export type ProblemKind = 'edited' | 'deleted' | 'inserted' | 'reordered' | 'truncated';
export interface ChainProblem {
  seq: number;
  kind: ProblemKind;
  detail: string;
}
export interface VerifyReport {
  ok: boolean;
  /** Entries read. */
  checked: number;
  /** Last entry read, as stored. */
  head: Checkpoint | null;
  /** In chain order; the first one is where the chain first goes wrong. */
  problems: ChainProblem[];
  /** True when more problems were found than `maxProblems` kept. */
  problemsTruncated: boolean;
}

/** How far from its stored position an entry's original seq is searched for (to tell a moved entry
 * from an edited one). Only entries that already fail their hash pay for the search. */
const MOVE_WINDOW = 16;

function originalSeq(e: Transition, guess: number): number | null {
  for (let d = 1; d <= MOVE_WINDOW; d++) {
    for (const s of [guess - d, guess + d]) {
      if (s >= 1 && hashEntry(e.prevHash, { ...e, seq: s }) === e.hash) return s;
    }
  }
  return null;
}

/**
 * Streams the entries (in the order the store returns them: by seq) and checks that
 * - seqs run 1, 2, 3, … (a gap is a deletion, a repeat an insertion, a step back a reordering),
 * - every entry's hash matches its content and seq (else it was edited, or moved: its hash matches
 *   another seq),
 * - every entry's prevHash is the hash of the entry before it (a broken link: the entry was inserted,
 *   or the one before it was rewritten together with its hash; reported as 'inserted' at the later seq).
 * With `checkpoint` (a {seq, hash} saved earlier, e.g. the last line of an export) it also checks that
 * the chain still reaches that seq with that hash, which catches deletion of the newest entries
 * (truncation) and a chain rewritten from some point on with fresh hashes.
 * With `from` it checks only entries after a trusted {seq, hash} (incremental verify); pass the
 * entries from the store's `scan(from.seq)`.
 * Recognised store-side renumbering (an entry deleted or inserted and the following seqs shifted to
 * hide the gap) is reported once, and the rest of the chain is checked under that shift.
 */
export async function verifyChain(
  entries: AsyncIterable<Transition> | Iterable<Transition>,
  opts: { checkpoint?: Checkpoint | null; from?: Checkpoint | null; maxProblems?: number } = {},
): Promise<VerifyReport> {
  const maxProblems = opts.maxProblems ?? 1000;
  const problems: ChainProblem[] = [];
  let problemsTruncated = false;
  const report = (seq: number, kind: ProblemKind, detail: string) => {
    if (problems.length < maxProblems) problems.push({ seq, kind, detail });
    else problemsTruncated = true;
  };

  let checked = 0;
  let prev: Transition | null = null;
  // prevHash and seq expected of the next entry, before any entry was read:
  const startSeq = (opts.from?.seq ?? 0) + 1;
  const startHash = opts.from?.hash ?? GENESIS_HASH;
  let shift = 0; // stored seq minus original seq, once renumbering was detected
  let checkpointSeen = false;
  // One entry of lookahead tells a swapped pair (reordered) from a deletion whose gap was closed.
  let pending: Transition | null = null;
  let skipNext = false; // the second entry of a swapped pair was already reported
  let late: number | null = null; // a seq seen missing that the lookahead saw arriving next

  const check = (e: Transition, next: Transition | null) => {
    checked++;
    if (opts.checkpoint && e.seq === opts.checkpoint.seq) {
      checkpointSeen = true;
      if (e.hash !== opts.checkpoint.hash) {
        report(e.seq, 'edited', `entry ${e.seq} has hash ${e.hash.slice(0, 12)}…, the checkpoint says ${opts.checkpoint.hash.slice(0, 12)}…: the chain was rewritten up to here`);
      }
    }
    const expectedSeq = prev ? prev.seq + 1 : startSeq;
    const expectedPrevHash = prev ? prev.hash : startHash;

    if (skipNext) {
      skipNext = false;
      // The pair was reported; continue the chain from whichever of the two was written last,
      // at this stored position.
      if (prev && e.seq > prev.seq) prev = { ...(originalSeqOrSelf(e) > originalSeqOrSelf(prev) ? e : prev), seq: e.seq };
      return;
    }
    if (prev && e.seq === prev.seq) {
      report(e.seq, 'inserted', `seq ${e.seq} appears more than once`);
      return;
    }
    if (prev && e.seq < prev.seq) {
      if (e.seq === late) {
        // Already reported as out of order; its content is still checked.
        late = null;
        if (hashEntry(e.prevHash, e) !== e.hash) report(e.seq, 'edited', `entry ${e.seq} does not match its hash: its content was changed`);
      } else {
        report(e.seq, 'reordered', `entry ${e.seq} comes after entry ${prev.seq}`);
      }
      return;
    }
    let gap = false;
    if (e.seq > expectedSeq && next && next.seq === expectedSeq) {
      // Stored (or exported) out of order, e.g. two lines of an export swapped: not a deletion.
      report(expectedSeq, 'reordered', `entry ${e.seq} comes before entry ${expectedSeq}`);
      late = expectedSeq;
      gap = true;
    } else if (e.seq > expectedSeq) {
      gap = true;
      report(expectedSeq, 'deleted', e.seq - 1 === expectedSeq ? `entry ${expectedSeq} is missing` : `entries ${expectedSeq}..${e.seq - 1} are missing`);
    }

    const asWritten = e.seq - shift;
    if (hashEntry(e.prevHash, { ...e, seq: asWritten }) !== e.hash) {
      // Once the report is full, skip the search: a log rewritten wholesale must not cost 32 hashes an entry.
      const orig = problemsTruncated ? null : originalSeq(e, asWritten);
      if (orig === null) {
        report(e.seq, 'edited', `entry ${e.seq} does not match its hash: its content was changed`);
      } else if (orig === asWritten + 1 && next && next.seq === e.seq + 1 && hashEntry(next.prevHash, { ...next, seq: asWritten }) === next.hash) {
        report(e.seq, 'reordered', `entries ${e.seq} and ${e.seq + 1} were swapped`);
        skipNext = true;
        gap = true;
      } else if (orig === asWritten + 1 && !gap) {
        report(e.seq, 'deleted', `entry ${e.seq} was deleted and the later entries renumbered to hide the gap`);
        shift -= 1;
        gap = true;
      } else if (orig === asWritten - 1 && prev && e.prevHash === prev.prevHash) {
        report(prev.seq, 'inserted', `entry ${prev.seq} was inserted and the later entries renumbered`);
        shift += 1;
        gap = true;
      } else {
        report(e.seq, 'reordered', `the entry stored as ${e.seq} was written as ${orig + shift}`);
        gap = true;
      }
    }
    if (!gap && e.prevHash !== expectedPrevHash) {
      if (prev && e.prevHash === prev.prevHash) {
        report(prev.seq, 'inserted', `entry ${prev.seq} was inserted: entry ${e.seq} links past it`);
      } else if (prev) {
        // Nothing stored tells these two apart; the detail names both.
        report(e.seq, 'inserted', `entry ${e.seq} does not link to entry ${prev.seq}: either ${e.seq} was inserted or ${prev.seq} was rewritten together with its hash`);
      } else {
        report(e.seq, 'inserted', `entry ${e.seq} does not link to ${opts.from ? `the trusted entry ${opts.from.seq}` : 'the start of the chain'}`);
      }
    }
    prev = e;
  };
  const originalSeqOrSelf = (t: Transition) => (hashEntry(t.prevHash, t) === t.hash ? t.seq : (originalSeq(t, t.seq) ?? t.seq));

  for await (const e of entries) {
    if (pending) check(pending, e);
    pending = e;
  }
  if (pending) check(pending, null);

  const lastRead = pending as Transition | null;
  // A checkpoint at seq 0 (an export of an empty chain) vouches for nothing, so there is nothing to miss.
  if (opts.checkpoint && opts.checkpoint.seq > 0 && !checkpointSeen) {
    const have = lastRead?.seq ?? opts.from?.seq ?? 0;
    if (have < opts.checkpoint.seq) {
      report(have + 1, 'truncated', `the chain ends at seq ${have}; the checkpoint says it reached ${opts.checkpoint.seq}`);
    } else {
      report(opts.checkpoint.seq, 'deleted', `entry ${opts.checkpoint.seq} (the checkpoint) is missing`);
    }
  }
  return {
    ok: problems.length === 0,
    checked,
    head: lastRead ? { seq: lastRead.seq, hash: lastRead.hash } : null,
    problems,
    problemsTruncated,
  };
}
