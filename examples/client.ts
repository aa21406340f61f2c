import { EventBusClient, isEventBusError } from 'eventbus/client';

let client: EventBusClient | undefined;
try {
  client = await EventBusClient.connect({ port: Number(process.env.EVENTBUS_PORT ?? 8080) });
  await client.createStream('orders', { ifNotExists: true }); // the same as client.ensureStream('orders')
  await client.writeEvent('orders', { total: 12.5 });
  const { events } = await client.processEvents<{ total: number }>('orders', { maxEvents: 100 });
  for (const event of events) console.log(`order ${event.offset}: ${event.body.total}`);
  if (events.length > 0) await client.markEvent(events.map((e) => e.id), 1);
} catch (error) {
  if (!isEventBusError(error)) throw error;
  // Every failure has a stable code: CONNECTION_ERROR (no server), STREAM_NOT_FOUND, UNAUTHORIZED, …
  console.error(`eventbus: ${error.code}: ${error.reason}`);
  process.exitCode = 1;
} finally {
  await client?.close();
}
