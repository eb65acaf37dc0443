// Validation of what callers hand to enqueue(), shared by both adapters so a bad job is refused with the
// same message whichever backend is configured.
import type { JobInput, JobKind } from './port.ts';

export const jobKinds: readonly JobKind[] = ['delivery', 'outbound', 'reconcile', 'timer'];
export const defaultMaxAttempts = 8;

export interface CheckedJob {
  kind: JobKind;
  payloadJson: string;
  id: string | null;
  key: string | null;
  delayMs: number;
  maxAttempts: number;
}

export function checkKind(kind: unknown): JobKind {
  if (!jobKinds.includes(kind as JobKind)) throw new Error(`queue: kind must be one of ${jobKinds.join(', ')}, got ${JSON.stringify(kind)}`);
  return kind as JobKind;
}

export function checkJobInput(input: JobInput<unknown>): CheckedJob {
  const kind = checkKind(input.kind);
  let payloadJson: string | undefined;
  try {
    payloadJson = JSON.stringify(input.payload);
  } catch (err) {
    throw new Error(`queue: payload of a ${kind} job is not JSON-serialisable: ${(err as Error).message}`);
  }
  if (payloadJson === undefined) throw new Error(`queue: payload of a ${kind} job is missing or not JSON-serialisable`);
  const text = (field: 'id' | 'key'): string | null => {
    const v = input[field];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || v.length === 0) throw new Error(`queue: ${field} of a ${kind} job must be a non-empty string`);
    return v;
  };
  const delayMs = input.delayMs ?? 0;
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`queue: delayMs of a ${kind} job must be a number ≥ 0, got ${String(input.delayMs)}`);
  const maxAttempts = input.maxAttempts ?? defaultMaxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new Error(`queue: maxAttempts of a ${kind} job must be an integer ≥ 1, got ${String(input.maxAttempts)}`);
  return { kind, payloadJson, id: text('id'), key: text('key'), delayMs: Math.round(delayMs), maxAttempts };
}

export function emptyDepth(): Record<JobKind, { waiting: number; running: number; dead: number }> {
  return Object.fromEntries(jobKinds.map((k) => [k, { waiting: 0, running: 0, dead: 0 }])) as Record<JobKind, { waiting: number; running: number; dead: number }>;
}
