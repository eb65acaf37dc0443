// One circuit seen by two threads: breakers built over the same memory (the HTTP thread's and the
// processing worker's, for one connection) see each other's failures, openings and recoveries.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { CircuitOpenError, circuitMemory, circuitMemoryBytes, createCircuitBreaker } from '../../../src/http-client/circuit-breaker.ts';
import { fakeClock } from './support.ts';

const settings = { failureThreshold: 3, openMs: 60_000, halfOpenProbes: 1 };

describe('circuit shared between breakers', () => {
  it('opens for the reader after the writer reaches the failure threshold, with its last error and wait', () => {
    const clock = fakeClock();
    const memory = circuitMemory();
    const processing = createCircuitBreaker({ ...settings, now: clock.now, memory });
    const http = createCircuitBreaker({ ...settings, now: clock.now, memory });
    for (let i = 0; i < 2; i++) {
      processing.beforeCall('servicenow-prod');
      processing.onFailure('502 Bad Gateway');
    }
    assert.equal(http.state(), 'closed');
    assert.equal(http.snapshot().consecutiveFailures, 2);
    processing.beforeCall('servicenow-prod');
    processing.onFailure('503 Service Unavailable');
    clock.t += 20_000;
    assert.equal(http.state(), 'open');
    assert.deepEqual(http.snapshot(), {
      state: 'open',
      consecutiveFailures: 3,
      openedAt: new Date(clock.t - 20_000).toISOString(),
      retryInMs: 40_000,
      lastError: '503 Service Unavailable',
    });
    assert.throws(() => http.beforeCall('servicenow-prod'), (e: Error) => e instanceof CircuitOpenError && e.retryAfterMs === 40_000 && /503 Service Unavailable/.test(e.message));
  });

  it('turns half-open on the clock for both, lets one probe through between them, and closes for both', () => {
    const clock = fakeClock();
    const memory = circuitMemory();
    const processing = createCircuitBreaker({ ...settings, failureThreshold: 1, now: clock.now, memory });
    const http = createCircuitBreaker({ ...settings, failureThreshold: 1, now: clock.now, memory });
    processing.onFailure('timeout');
    clock.t += 60_000;
    assert.equal(http.state(), 'half-open');
    processing.beforeCall('servicenow-prod');
    assert.throws(() => http.beforeCall('servicenow-prod'), CircuitOpenError, 'the probe slot is taken by the other breaker');
    processing.onSuccess();
    assert.deepEqual(http.snapshot(), { state: 'closed', consecutiveFailures: 0, openedAt: new Date(clock.t - 60_000).toISOString(), retryInMs: 0, lastError: null });
  });

  it('starts closed from fresh memory, whichever breaker is built second', () => {
    const memory = circuitMemory();
    const first = createCircuitBreaker({ ...settings, memory });
    first.onFailure('x');
    const second = createCircuitBreaker({ ...settings, memory });
    assert.equal(second.snapshot().consecutiveFailures, 1, 'building a breaker does not reset a circuit in use');
    assert.equal(second.snapshot().lastError, 'x');
  });

  it('keeps a long vendor message within its bytes, cut on a character and marked', () => {
    const b = createCircuitBreaker({ ...settings, memory: circuitMemory() });
    b.onFailure(`500 ${'ü'.repeat(400)}`);
    const kept = b.snapshot().lastError!;
    assert.ok(Buffer.byteLength(kept) <= 512, `${Buffer.byteLength(kept)} bytes`);
    assert.match(kept, /^500 ü+…$/);
  });

  it('refuses memory too small for a circuit', () => {
    assert.throws(() => createCircuitBreaker({ memory: new SharedArrayBuffer(16) }), new RegExp(`needs ${circuitMemoryBytes}; use circuitMemory\\(\\)`));
  });

  it('shows the main thread the circuit a worker thread opened', async () => {
    const memory = circuitMemory();
    const http = createCircuitBreaker({ ...settings, memory });
    assert.equal(http.state(), 'closed');
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(workerFile, { workerData: { memory, failures: 3, failureThreshold: 3, gate } });
    try {
      await messages(worker, 'started');
      openGate(gate);
      await messages(worker, 'done');
      const seen = http.snapshot();
      assert.equal(seen.state, 'open');
      assert.equal(seen.consecutiveFailures, 3);
      assert.equal(seen.lastError, '503 Service Unavailable: instance hibernating');
      assert.ok(seen.retryInMs > 50_000 && seen.retryInMs <= 60_000, `retryInMs ${seen.retryInMs}`);
      assert.throws(() => http.beforeCall('servicenow-prod'), CircuitOpenError);
    } finally {
      await worker.terminate();
    }
  });

  it('loses no failure when both threads record them at the same time', async () => {
    const memory = circuitMemory();
    const many = 100_000;
    const http = createCircuitBreaker({ ...settings, failureThreshold: 10 * many, memory });
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(workerFile, { workerData: { memory, failures: many, failureThreshold: 10 * many, gate } });
    try {
      await messages(worker, 'started');
      openGate(gate);
      for (let i = 0; i < many; i++) http.onFailure('timeout');
      await messages(worker, 'done');
      assert.equal(http.snapshot().consecutiveFailures, 2 * many);
    } finally {
      await worker.terminate();
    }
  });
});

const workerFile = new URL('./shared-circuit-worker.ts', import.meta.url);

function openGate(gate: Int32Array): void {
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
}

async function messages(worker: Worker, ...expected: string[]): Promise<void> {
  for (const want of expected) {
    const [got] = (await once(worker, 'message')) as [string];
    assert.equal(got, want);
  }
}
