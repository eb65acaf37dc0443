// A process for threads.test.ts whose helper thread crashes: the process is asked to stop (SIGTERM)
// and its stop() reports the failure, as the hub's shutdown does before exiting with code 1.
import { startHubThread } from '../../../src/threads.ts';

const logged: string[] = [];
const log = { info() {}, debug() {}, warn() {}, error: (_o: unknown, msg?: string) => void logged.push(msg ?? '') };
const thread = await startHubThread(new URL('./echo-entry.ts', import.meta.url), 'crash', { name: 'test', log });
// Keeps the process up as a hub's open server would, until the SIGTERM has been handled.
const alive = setTimeout(() => process.stdout.write('no SIGTERM\n'), 5_000);
process.on('SIGTERM', () => {
  clearTimeout(alive);
  thread.stop().then(
    () => process.stdout.write(`stopped cleanly; logged: ${logged.join(' | ')}\n`),
    (err: Error) => process.stdout.write(`stop failed: ${err.message}; logged: ${logged.join(' | ')}\n`),
  );
});
