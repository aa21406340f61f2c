import { Engine, EventStatuses } from 'eventbus/storage';

const engine = await Engine.open({ dataDir: process.argv[2] ?? 'example-data', consumers: { ackWaitMs: 30_000, maxDeliveries: 3 } });
try {
  if (engine.getStream('jobs') === undefined) await engine.createStream('jobs');
  await engine.appendMany('jobs', ['a', 'b', 'c'].map((job) => Buffer.from(job)));

  // process: the consumer's next events (created on first use), its cursor moved past them, durably.
  const { events } = await engine.consume('jobs', 'worker', { maxEvents: 10 });
  console.log(`delivered ${events.map((e) => `${e.payload}@${e.offset}`).join(' ')}`);

  // mark: 1 acknowledges (never delivered again), 2 asks for a retry, 0 has process deliver it again.
  await engine.mark('jobs', 'worker', [events[0]!.offset, events[1]!.offset], EventStatuses.PROCESSED);
  await engine.mark('jobs', 'worker', [events[2]!.offset], EventStatuses.RETRY);

  // retry: events marked 2, and those not marked within ackWaitMs; after maxDeliveries they go to
  // the dead-letter stream (deadLetterStreamName('jobs')) instead.
  const retried = await engine.retry('jobs', 'worker');
  console.log(`retried ${retried.events.map((e) => `${e.payload}@${e.offset} (delivery ${e.deliveryCount})`).join(' ')}`);
  await engine.mark('jobs', 'worker', retried.events.map((e) => e.offset), EventStatuses.PROCESSED);

  const [worker] = engine.stats('jobs').consumers;
  console.log(`worker: cursor ${worker!.cursor}, pending ${worker!.pending}, retry ${worker!.retry}, lag ${worker!.lag}`);
} finally {
  await engine.close();
}
