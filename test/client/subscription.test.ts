/**
 * The client's catch-up subscription (src/client/subscription.ts): an async iterator of events
 * with a caught-up item (and promise) between history and live; unsubscribe gives where to go on;
 * a subscriber that stops reading is cut off by the server with SLOW_CONSUMER and its position,
 * and a new subscription from there loses and repeats nothing; across a server killed and
 * restarted mid-way, a subscriber that resumes from its position with 4 writers writing gets
 * every event exactly once, in order.
 */
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import type { Subscription } from '../../src/client/subscription.js';
import { isEventBusError } from '../../src/errors.js';
import { serverFor } from '../helpers/server-inprocess.js';
import { startServerProcess, tempDir } from '../helpers/server-process.js';

t.test('an async iterator: history, a caught_up item, live events; unsubscribe says where to go on', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  for (let i = 0; i < 3; i++) await client.writeEvent('s', { i });
  const subscription = await client.subscribe<{ i: number }>('s');
  const items: string[] = [];
  for await (const item of subscription) {
    items.push(item.kind === 'event' ? `e${item.event.body.i}` : `caught_up@${item.nextOffset}`);
    if (item.kind === 'caught_up') {
      t.equal(await subscription.caughtUp, 3, 'the caughtUp promise resolves with the same offset');
      await client.writeEvent('s', { i: 3 });
    }
    if (items.length === 5) break;
  }
  t.same(items, ['e0', 'e1', 'e2', 'caught_up@3', 'e3']);
  t.equal(await subscription.unsubscribe(), 4, 'unsubscribe: the offset after the last event taken');
  const fromTime = await client.subscribe('s', { fromEnd: true });
  t.equal(await fromTime.caughtUp, 4, 'fromEnd: caught up at the end');
  fromTime.close();
  await t.rejects(client.subscribe('nope'), { code: 'STREAM_NOT_FOUND' }, 'an unknown stream: subscribe itself rejects');
});

t.test('unsubscribe or close mid-iteration: the iterator yields nothing more, and resuming where unsubscribe said repeats nothing', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  await client.appendEvents('s', [{ body: 0 }, { body: 1 }, { body: 2 }]);
  for (const how of ['unsubscribe', 'close'] as const) {
    const subscription = await client.subscribe('s');
    const iterator = subscription[Symbol.asyncIterator]();
    const first = await iterator.next();
    t.equal(first.done === false && first.value.kind === 'event' ? first.value.event.offset : -1, 0);
    const resumeAt = how === 'unsubscribe' ? await subscription.unsubscribe() : (subscription.close(), subscription.nextOffset);
    t.equal(resumeAt, 1, `${how}: resume after the one event taken`);
    t.same(await iterator.next(), { done: true, value: undefined }, `${how}: the iterator ends (the events of the line already received are dropped)`);
  }
  const resumed = await client.subscribe('s', { fromOffset: 1 });
  const offsets: number[] = [];
  for await (const item of resumed) {
    if (item.kind === 'caught_up') break;
    offsets.push(item.event.offset);
  }
  t.same(offsets, [1, 2], 'resuming there: each event once');
  t.same(await resumed.unsubscribe(), 3, 'leaving the loop with break closed it (nothing more to end)');
  t.equal((resumed as unknown as { socket: { destroyed: boolean } }).socket.destroyed, true, 'its connection is closed: a program that breaks out can exit');
});

t.test('before anything is taken, nextOffset (and unsubscribe) is where the server started, whatever the start', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  for (let i = 0; i < 5; i++) {
    await client.writeEvent('s', { i });
    await new Promise((resolve) => setTimeout(resolve, 3)); // distinct created_at times, for fromTime below
  }
  const fromEnd = await client.subscribe('s', { fromEnd: true });
  t.equal(await fromEnd.caughtUp, 5);
  t.equal(fromEnd.nextOffset, 5, 'fromEnd: the end, not 0 (resuming from 0 would replay the stream)');
  t.equal(await fromEnd.unsubscribe(), 5, 'unsubscribe says the same');
  const future = await client.subscribe('s', { fromTime: '2999-01-01T00:00:00Z' });
  await future.caughtUp;
  t.equal(await future.unsubscribe(), 5, 'a time after the last event: the end');
  const [third] = (await client.getStreamEvents('s', { fromOffset: 2, maxEvents: 1 })).events;
  const fromTime = await client.subscribe('s', { fromTime: third!.createdAt });
  t.equal(fromTime.nextOffset, 2, 'fromTime: the first event at or after it');
  t.equal(await fromTime.unsubscribe(), 2, 'nothing taken: resume there');
});

t.test('a slow subscriber is cut off with SLOW_CONSUMER and its position, and resumes without loss', async (t) => {
  const { port } = await serverFor(t, { limits: { maxSubscriptionBufferBytes: 256 * 1024 } });
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  const subscription = await client.subscribe('s', { maxQueuedLines: 2 });
  await subscription.caughtUp;
  // Nobody reads: the client pauses its socket, the kernel's buffers fill, then the server's.
  const body = 'x'.repeat(1000);
  const total = 30_000;
  for (let i = 0; i < total; i += 500) await Promise.all(Array.from({ length: 500 }, (_, k) => client.writeEvent('s', { n: i + k, body })));
  const offsets: number[] = [];
  let error: unknown = null;
  try {
    for await (const item of subscription) if (item.kind === 'event') offsets.push(item.event.offset);
  } catch (failure) {
    error = failure;
  }
  t.ok(isEventBusError(error, 'SLOW_CONSUMER'), `ended with SLOW_CONSUMER (${String(error)})`);
  const context = (error as { context: { last_offset: number; next_offset: number } }).context;
  t.ok(offsets.length < total, `cut off after ${offsets.length} of ${total} events`);
  t.same(offsets, Array.from({ length: offsets.length }, (_, i) => i), 'everything before it arrived, in order');
  t.equal(context.last_offset, offsets.length - 1, 'last_offset is the last event received');
  t.equal(subscription.nextOffset, context.next_offset, 'nextOffset is where to resume');
  const resumed = await client.subscribe('s', { fromOffset: subscription.nextOffset });
  for await (const item of resumed) {
    if (item.kind === 'caught_up') break;
    offsets.push(item.event.offset);
  }
  resumed.close();
  t.same(offsets, Array.from({ length: total }, (_, i) => i), 'after resuming: every event exactly once, in order');
});

t.test('across a server killed and restarted mid-way, 4 writers and a resuming subscriber: every event once, in order', async (t) => {
  const dataDir = tempDir(t);
  let server = await startServerProcess({ dataDir });
  t.teardown(() => server.stop('SIGKILL'));
  const setup = await EventBusClient.connect({ port: server.port });
  await setup.createStream('s');
  await setup.close();
  const perWriter = 400;
  let port = server.port;
  let restarted = false;
  // Each writer writes its sequence in order, retrying a write that failed (the server was killed).
  const acknowledged: number[][] = [[], [], [], []];
  const writer = async (w: number) => {
    let client = await EventBusClient.connect({ port });
    for (let i = 0; i < perWriter; i++) {
      for (;;) {
        try {
          await client.writeEvent('s', { w, i });
          acknowledged[w]!.push(i);
          break;
        } catch {
          await client.close().catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, 50));
          try {
            client = await EventBusClient.connect({ port });
          } catch {
            // not back yet
          }
        }
      }
      if (i === perWriter / 2 && w === 0 && !restarted) {
        restarted = true;
        await server.stop('SIGKILL');
        server = await startServerProcess({ dataDir });
        port = server.port;
      }
    }
    await client.close();
  };
  const received: { offset: number; w: number; i: number }[] = [];
  let resumes = 0;
  let stopped = false;
  let current: Subscription<{ w: number; i: number }> | null = null;
  const subscriber = async () => {
    let next = 0;
    while (!stopped) {
      let subscription: Subscription<{ w: number; i: number }>;
      try {
        const client = await EventBusClient.connect({ port });
        subscription = await client.subscribe<{ w: number; i: number }>('s', { fromOffset: next });
        void client.close();
        current = subscription;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      try {
        for await (const item of subscription) {
          if (item.kind !== 'event') continue;
          received.push({ offset: item.event.offset, ...item.event.body });
        }
      } catch {
        resumes += 1;
        next = subscription.nextOffset;
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        subscription.close();
      }
    }
  };
  const subscribing = subscriber();
  await Promise.all([0, 1, 2, 3].map(writer));
  // A write the kill interrupted may have become durable without its acknowledgement: the writer
  // wrote it again. Wait for what the stream holds, then compare.
  const reader = await EventBusClient.connect({ port });
  const stored = (await reader.getStreamInfo('s')).nextOffset;
  for (let waited = 0; received.length < stored && waited < 20_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  stopped = true;
  (current as Subscription | null)?.close();
  await subscribing;
  const page = await reader.getStreamEvents<{ w: number; i: number }>('s', { maxEvents: 10_000 });
  await reader.close();
  t.ok(resumes >= 1, `the subscriber resumed after the restart (${resumes} times)`);
  t.same(received.slice(0, stored).map((e) => e.offset), Array.from({ length: stored }, (_, i) => i), 'every offset exactly once, in order');
  t.same(received.slice(0, stored).map((e) => `${e.w}:${e.i}`), page.events.map((e) => `${e.body.w}:${e.body.i}`), 'the events the stream holds, as stored');
  for (let w = 0; w < 4; w++) {
    const mine = received.filter((e) => e.w === w).map((e) => e.i);
    const missing = acknowledged[w]!.filter((i) => !mine.includes(i));
    t.same(missing, [], `writer ${w}: every acknowledged event received`);
    t.ok(mine.every((i, k) => k === 0 || i >= mine[k - 1]!), `writer ${w}: in the order written (a retried write may repeat its predecessor's value)`);
  }
});

t.test('subscribe takes one start: fromOffset, fromTime and fromEnd together are INVALID_FIELD, before any connection', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('one-start');
  await t.rejects(client.subscribe('one-start', { fromOffset: 3, fromEnd: true }), { code: 'INVALID_FIELD' });
  await t.rejects(client.subscribe('one-start', { fromOffset: 0, fromTime: new Date() }), { code: 'INVALID_FIELD' });
  const fine = await client.subscribe('one-start', { fromOffset: 0, fromEnd: false });
  t.equal(await fine.caughtUp, 0, 'fromEnd: false with an offset is one start');
  await fine.unsubscribe();
});
