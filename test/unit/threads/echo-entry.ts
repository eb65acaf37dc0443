// A helper thread for threads.test.ts: answers by echoing, fails its start or crashes when asked to.
import { workerData } from 'node:worker_threads';
import { serveHubThread } from '../../../src/threads.ts';

const mode = workerData as 'echo' | 'refuse-start' | 'crash';
await serveHubThread(async () => {
  if (mode === 'refuse-start') throw new Error('the store cannot be opened');
  if (mode === 'crash') setTimeout(() => { throw new Error('boom'); }, 50);
  return async (request: { say: string }) => {
    if (request.say === 'fail') throw new Error('cannot do that');
    return { heard: request.say };
  };
});
