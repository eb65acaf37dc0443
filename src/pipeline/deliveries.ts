// Processes one stored delivery: the connector parses it (through the connection's mapping files) into
// canonical events, the events go to the engine, and the delivery's status says what became of it.
// 'ignored' and 'failed' are answers, not crashes: the reason is stored and shown by the API.
import type { Job } from '../queue/port.ts';
import type { InboundDelivery } from '../sdk/index.ts';
import type { PipelineContext } from './context.ts';
import { handleEvents } from './events.ts';

export interface DeliveryJob {
  deliveryId: string;
}

export async function processDelivery(ctx: PipelineContext, job: Job<DeliveryJob>): Promise<void> {
  const { deliveryId } = job.payload;
  const delivery = await ctx.store.deliveries.get(deliveryId);
  if (!delivery) {
    ctx.log.warn({ deliveryId }, 'delivery job for a delivery that is not stored; dropped');
    return;
  }
  // At-least-once: a delivery already handled (its job ran again after a crash) counts once.
  if (delivery.status !== 'received') return;

  const conn = ctx.connections.get(delivery.connectionId);
  if (!conn) return ctx.store.deliveries.setStatus(deliveryId, 'failed', `connection "${delivery.connectionId}" is not configured`);
  const parse = conn.connector.parse;
  if (!parse) return ctx.store.deliveries.setStatus(deliveryId, 'failed', `connector "${conn.connector.id}" does not accept webhooks`);

  const inbound: InboundDelivery = { rawBody: Buffer.from(delivery.body, 'utf8'), headers: delivery.headers, receivedAt: new Date(delivery.receivedAt) };
  let parsed;
  try {
    parsed = parse(inbound, { connection: conn.settings, normalize: conn.normalize });
  } catch (err) {
    // A connector bug on an odd payload: the delivery is kept with the reason instead of looping.
    ctx.log.error({ deliveryId, connection: delivery.connectionId, err: String(err) }, 'connector parse threw');
    return ctx.store.deliveries.setStatus(deliveryId, 'failed', `${conn.connector.id} could not read the payload: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (parsed.status === 'ignored') return ctx.store.deliveries.setStatus(deliveryId, 'ignored', parsed.reason);
  if (parsed.status === 'failed') return ctx.store.deliveries.setStatus(deliveryId, 'failed', parsed.reason);

  const outcomes = await handleEvents(ctx, delivery.connectionId, parsed.events, { correlation: deliveryId });
  const ignored = outcomes.filter((o) => o.status === 'ignored');
  if (outcomes.length > 0 && ignored.length === outcomes.length) {
    await ctx.store.deliveries.setStatus(deliveryId, 'ignored', ignored.map((o) => o.reason).join('; '));
    return;
  }
  const notes = outcomes.flatMap((o) => (o.status === 'processed' && o.note ? [o.note] : o.status === 'ignored' ? [o.reason] : []));
  await ctx.store.deliveries.setStatus(deliveryId, 'processed', notes.length ? notes.join('; ') : null);
}
