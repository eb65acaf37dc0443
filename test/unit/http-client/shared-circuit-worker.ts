// Runs in a worker thread for shared-circuit.test.ts: the processing thread's side of a connection,
// whose outbound calls fail until its breaker opens, over the memory the main thread passed in.
import { parentPort, workerData } from 'node:worker_threads';
import { createCircuitBreaker } from '../../../src/http-client/circuit-breaker.ts';

const { memory, failures, failureThreshold, gate } = workerData as { memory: SharedArrayBuffer; failures: number; failureThreshold: number; gate: Int32Array };
const breaker = createCircuitBreaker({ memory, failureThreshold, openMs: 60_000 });
parentPort!.postMessage('started');
// Held until the main thread opens the gate, so both threads start failing at the same moment.
Atomics.wait(gate, 0, 0);
for (let i = 0; i < failures; i++) {
  breaker.beforeCall('servicenow-prod');
  breaker.onFailure('503 Service Unavailable: instance hibernating');
}
// Only says it is finished; what the circuit is, the main thread reads from the memory.
parentPort!.postMessage('done');
