// Graceful shutdown: a request in flight when shutdown starts still gets its answer; then the queue
// and the store are closed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyPluginAsync } from 'fastify';
import { closeGracefully } from '../../src/app.ts';
import { testHub } from './helpers.ts';

test('closeGracefully finishes the request in flight, then closes queue and store', async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  let entered!: () => void;
  const inHandler = new Promise<void>((r) => { entered = r; });
  const slow: FastifyPluginAsync = async (app) => {
    app.get('/slow', async () => {
      entered();
      await released;
      return { finished: true };
    });
  };
  const hub = await testHub({ routes: [slow] });
  const url = await hub.app.listen({ host: '127.0.0.1', port: 0 });

  const inFlight = fetch(`${url}/slow`);
  await inHandler;
  const closing = closeGracefully({ app: hub.app, queue: hub.queue, store: hub.store, log: hub.app.log as never });
  release();
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { finished: true });
  assert.equal(await closing, true);
  await assert.rejects(hub.store.ping(), 'the store is closed after the requests finished');
});
