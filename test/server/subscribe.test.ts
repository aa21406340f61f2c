/**
 * Catch-up subscriptions over the wire (bus/subscription.ts, server/subscription-session.ts):
 * history lines, one caught_up line, then live events as they become durable, exactly once and
 * in order across the switch while writers write; the connection takes only unsubscribe and
 * exit meanwhile; a slow subscriber is cut off with SLOW_CONSUMER and its position and resumes
 * without loss; deleting the stream ends the subscription with STREAM_NOT_FOUND.
 */
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { behindBalancer, onJetStream } from '../helpers/backend.js';
import { serverFor } from '../helpers/server-inprocess.js';
import { LineSocket } from '../helpers/server-lines.js';

type Line = { operation: string; status: boolean; body?: { events?: { offset: number; body: unknown }[]; caught_up?: boolean; next_offset?: number }; code?: string; context?: Record<string, number>; request_id?: unknown };

async function next(socket: LineSocket, timeoutMs = 5000): Promise<Line> {
  return JSON.parse(await socket.readLine(timeoutMs)) as Line;
}

t.test('history, caught_up, live; other requests refused; unsubscribe answers last and the connection goes on', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  for (let i = 0; i < 5; i++) await client.writeEvent('s', { i });
  const socket = await LineSocket.connect(port);
  t.teardown(() => socket.socket.destroy());
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_offset: 2 }, request_id: 'sub' })}\n`);
  const history = await next(socket);
  t.same(history.body!.events!.map((e) => e.offset), [2, 3, 4], 'history from the offset asked for');
  t.equal(history.request_id, 'sub', 'lines carry the subscribe request_id');
  t.same((await next(socket)).body, { caught_up: true, next_offset: 5 });
  await client.writeEvent('s', { i: 5 });
  const live = await next(socket);
  t.same(live.body!.events!.map((e) => e.offset), [5], 'a live event');
  t.same(live.body!.events![0]!.body, { i: 5 });
  socket.write(`${JSON.stringify({ operation: 'get_stream_info', body: { stream_name: 's' } })}\n`);
  const refused = await next(socket);
  t.equal(refused.code, 'SUBSCRIPTION_ACTIVE');
  t.equal(refused.operation, 'get_stream_info');
  socket.write('not json\n');
  t.equal((await next(socket)).code, 'INVALID_JSON', 'a line that is no request gets its usual error');
  socket.write(`${JSON.stringify({ operation: 'unsubscribe' })}\n${JSON.stringify({ operation: 'get_stream_info', body: { stream_name: 's' } })}\n`);
  const bye = await next(socket);
  t.same(bye, { operation: 'unsubscribe', status: true, body: { next_offset: 6 } });
  const info = await next(socket);
  t.equal(info.operation, 'get_stream_info', 'after unsubscribe the connection takes requests again');
  t.ok(info.status);
  socket.write(`${JSON.stringify({ operation: 'unsubscribe' })}\n`);
  t.equal((await next(socket)).code, 'NOT_SUBSCRIBED');
});

t.test('from "end", from a time, and not past the end; an unknown stream; exit while subscribed', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  await client.writeEvent('s', 1);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const cut = new Date().toISOString();
  await new Promise((resolve) => setTimeout(resolve, 5));
  await client.writeEvent('s', 2);
  const socket = await LineSocket.connect(port);
  t.teardown(() => socket.socket.destroy());
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_time: cut } })}\n`);
  t.same((await next(socket)).body!.events!.map((e) => e.offset), [1], 'from a time: the first event at or after it');
  t.same((await next(socket)).body, { caught_up: true, next_offset: 2 });
  socket.write(`${JSON.stringify({ operation: 'exit' })}\n`);
  t.same(await next(socket), { operation: 'exit', status: true });
  await socket.closed;

  const end = await LineSocket.connect(port);
  t.teardown(() => end.socket.destroy());
  end.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_offset: 'end' } })}\n`);
  t.same((await next(end)).body, { caught_up: true, next_offset: 2 }, 'from the end: caught up at once');
  await client.writeEvent('s', 3);
  t.same((await next(end)).body!.events!.map((e) => e.offset), [2]);

  const missing = await LineSocket.connect(port);
  t.teardown(() => missing.socket.destroy());
  missing.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 'nope' } })}\n`);
  const failed = await next(missing);
  t.equal(failed.code, 'STREAM_NOT_FOUND');
  t.equal(failed.operation, 'subscribe');

  // Past the stream's next offset (3 now): refused, as a consumer's start, and the connection goes on.
  const past = await LineSocket.connect(port);
  t.teardown(() => past.socket.destroy());
  past.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_offset: 9 } })}\n`);
  const refused = await next(past);
  t.same([refused.operation, refused.code], ['subscribe', 'INVALID_FIELD'], 'from past the end: INVALID_FIELD');
  past.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_offset: 3 } })}\n`);
  t.same((await next(past)).body, { caught_up: true, next_offset: 3 }, 'from the next offset itself: caught up at once');

  // A read's from_version and backward direction are refused, not ignored (ignored, a subscriber
  // meaning "from version 1000" would get every version again).
  for (const [extra, field] of [[{ key: 'k', from_version: 1 }, 'from_version'], [{ from_version: 0 }, 'from_version'], [{ direction: 'backward' }, 'direction']] as const) {
    const odd = await LineSocket.connect(port);
    t.teardown(() => odd.socket.destroy());
    odd.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', ...extra } })}\n`);
    const answer = await next(odd);
    t.same([answer.code, (answer.context as { field?: string } | undefined)?.field], ['INVALID_FIELD', field], `subscribe with ${JSON.stringify(extra)}: INVALID_FIELD`);
  }
  const forward = await LineSocket.connect(port);
  t.teardown(() => forward.socket.destroy());
  forward.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', direction: 'forward', from_offset: 'end' } })}\n`);
  t.same((await next(forward)).body, { caught_up: true, next_offset: 3 }, 'direction forward is what a subscription does: accepted');
});

t.test('deleting the stream ends the subscription with STREAM_NOT_FOUND and the position', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  await client.writeEvent('s', 1);
  const socket = await LineSocket.connect(port);
  t.teardown(() => socket.socket.destroy());
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's' } })}\n`);
  await next(socket);
  t.same((await next(socket)).body, { caught_up: true, next_offset: 1 });
  await client.deleteStream('s');
  const ended = await next(socket);
  t.equal(ended.code, 'STREAM_NOT_FOUND');
  t.same(ended.context, { last_offset: 0, next_offset: 1 });
});

t.test('a subscriber from 0 while 4 writers write gets every event exactly once, in order, across the switch', async (t) => {
  const { port } = await serverFor(t);
  const writers = await Promise.all(Array.from({ length: 4 }, () => EventBusClient.connect({ port })));
  t.teardown(() => Promise.all(writers.map((w) => w.close())));
  await writers[0]!.createStream('s');
  const perWriter = 600;
  const writing = writers.map(async (writer, w) => {
    for (let i = 0; i < perWriter; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, k) => writer.writeEvent('s', { w, i: i + k })));
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 20)); // some history first
  const socket = await LineSocket.connect(port);
  t.teardown(() => socket.socket.destroy());
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_offset: 0 } })}\n`);
  const offsets: number[] = [];
  const lastSeen = [-1, -1, -1, -1];
  let outOfOrder = 0;
  let caughtUpAt = -1;
  while (offsets.length < 4 * perWriter) {
    const line = await next(socket, 10_000);
    if (line.body?.caught_up === true) {
      t.equal(caughtUpAt, -1, 'one caught_up line');
      caughtUpAt = offsets.length;
      t.equal(line.body.next_offset, offsets.length, 'caught_up says where live starts');
      continue;
    }
    for (const event of line.body!.events!) {
      offsets.push(event.offset);
      const { w, i } = event.body as { w: number; i: number };
      if (i <= lastSeen[w]!) outOfOrder += 1;
      lastSeen[w] = i;
    }
  }
  // A slow history read may catch up only once the writers stop: then caught_up follows the last event.
  if (caughtUpAt === -1) {
    await Promise.all(writing);
    const line = await next(socket, 10_000);
    t.equal(line.body?.caught_up, true, 'caught up once the writers stopped');
    t.equal(line.body?.next_offset, 4 * perWriter, 'caught_up says where live starts');
    caughtUpAt = offsets.length;
  }
  t.ok(caughtUpAt >= 0, `caught up after ${caughtUpAt} events`);
  t.same(offsets, Array.from({ length: 4 * perWriter }, (_, i) => i), 'every offset exactly once, in order');
  t.equal(outOfOrder, 0, 'each writer\'s events in the order written');
  await Promise.all(writing);
});

t.test('a subscribe refused at its start is answered in request order, without a position, and the requests after it are served', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('x');
  await client.writeEvent('x', 1);
  const socket = await LineSocket.connect(port);
  t.teardown(() => socket.socket.destroy());
  // All in one write: the lines after each subscribe arrive before its start is known.
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 'x', from_offset: 99 }, request_id: 1 })}\n`
    + `${JSON.stringify({ operation: 'health', request_id: 2 })}\n`
    + `${JSON.stringify({ operation: 'subscribe', body: { stream_name: 'nope' }, request_id: 3 })}\n`
    + `${JSON.stringify({ operation: 'get_stream_info', body: { stream_name: 'x' }, request_id: 4 })}\n`);
  const answers: Line[] = [];
  for (let i = 0; i < 4; i++) answers.push(await next(socket));
  t.same(answers.map((a) => [a.request_id, a.operation, a.status, a.code]), [
    [1, 'subscribe', false, 'INVALID_FIELD'],
    [2, 'health', true, undefined],
    [3, 'subscribe', false, 'STREAM_NOT_FOUND'],
    [4, 'get_stream_info', true, undefined],
  ], 'one answer per request, in order; the refused subscribes left the connection as it was');
  t.notOk(answers[0]!.context !== undefined && 'next_offset' in answers[0]!.context, 'a refusal has no position to resume from');
  t.equal(answers[2]!.context, undefined, 'nor has an unknown stream');
  // A subscribe that starts makes the connection a subscription for the lines after it.
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 'x' }, request_id: 5 })}\n${JSON.stringify({ operation: 'health', request_id: 6 })}\n`);
  const lines = [await next(socket), await next(socket), await next(socket)];
  t.same(lines.filter((l) => l.request_id === 6).map((l) => l.code), ['SUBSCRIPTION_ACTIVE'], 'a request after a subscribe that started is refused');
  t.equal(lines[0]!.request_id, 5, 'after the subscription\'s first line');
  const subscribed = lines.filter((l) => l.request_id === 5);
  t.same([subscribed[0]?.body?.events?.map((e) => e.offset), subscribed[1]?.body], [[0], { caught_up: true, next_offset: 1 }], 'and the subscription goes on');
});

t.test('an ending says the last event the subscription sent (-1 when none), not the one before next_offset', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  // With a key: the cursor passes the other key's events, which are never sent.
  await client.createStream('lk');
  await client.writeEvent('lk', { n: 0 }, { key: 'a' });
  for (let i = 1; i <= 3; i++) await client.writeEvent('lk', { n: i }, { key: 'b' });
  const keyed = await LineSocket.connect(port);
  t.teardown(() => keyed.socket.destroy());
  keyed.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 'lk', key: 'a' } })}\n`);
  t.same((await next(keyed)).body!.events!.map((e) => e.offset), [0]);
  t.equal((await next(keyed)).body!.caught_up, true);
  await client.writeEvent('lk', { n: 4 }, { key: 'b' });
  await client.deleteStream('lk');
  const keyedEnd = await next(keyed);
  t.equal(keyedEnd.code, 'STREAM_NOT_FOUND');
  t.equal(keyedEnd.context!.last_offset, 0, 'last_offset: the one event sent');
  t.ok(keyedEnd.context!.next_offset! >= 1, `next_offset where to resume (${keyedEnd.context!.next_offset})`);
  if (!onJetStream) t.ok(keyedEnd.context!.next_offset! >= 4, 'on the engine, past the other key\'s events');

  // From the end, ended before anything was sent.
  await client.createStream('e');
  for (let i = 0; i < 5; i++) await client.writeEvent('e', i);
  const fromEnd = await LineSocket.connect(port);
  t.teardown(() => fromEnd.socket.destroy());
  fromEnd.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 'e', from_offset: 'end' } })}\n`);
  t.same((await next(fromEnd)).body, { caught_up: true, next_offset: 5 });
  await client.deleteStream('e');
  const endEnd = await next(fromEnd);
  t.equal(endEnd.code, 'STREAM_NOT_FOUND');
  t.same(endEnd.context, { last_offset: -1, next_offset: 5 }, 'nothing sent: last_offset -1; next_offset the cursor');
});

t.test('SHUTTING_DOWN too says the last event sent', { skip: behindBalancer ? 'behind the test balancer the subscriber may be on the gateway that is not stopped' : false }, async (t) => {
  const { port, server } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('lk');
  await client.writeEvent('lk', { n: 0 }, { key: 'a' });
  for (let i = 1; i <= 3; i++) await client.writeEvent('lk', { n: i }, { key: 'b' });
  const socket = await LineSocket.connect(port);
  t.teardown(() => socket.socket.destroy());
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 'lk', key: 'a' } })}\n`);
  t.same((await next(socket)).body!.events!.map((e) => e.offset), [0]);
  const caughtUp = await next(socket);
  const closing = server.close();
  const ended = await next(socket);
  await closing;
  t.equal(ended.code, 'SHUTTING_DOWN');
  t.same(ended.context, { last_offset: 0, next_offset: caughtUp.body!.next_offset }, 'last_offset: the one event sent; next_offset: where it caught up');
});

t.test('lines pipelined behind a subscribe are answered after its first line, in request order', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s1');
  await client.writeEvent('s1', 0);
  // Several times: the order used to depend on which came first in the server's event loop.
  for (let round = 0; round < 5; round++) {
    for (const from of ['end', 0] as const) {
      const socket = await LineSocket.connect(port);
      t.teardown(() => socket.socket.destroy());
      socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's1', from_offset: from }, request_id: 1 })}\n`
        + `${JSON.stringify({ operation: 'health', request_id: 2 })}\n`);
      const first = await next(socket);
      t.equal(first.request_id, 1, `from ${from}: the subscription's first line first`, { got: first });
      const lines = [first];
      while (!lines.some((l) => l.request_id === 2)) lines.push(await next(socket));
      t.equal(lines[lines.length - 1]!.code, 'SUBSCRIPTION_ACTIVE', `from ${from}: then the refusal`);
    }
  }
  // Behind a long-poll: its answer, the subscription's first line, then the refusal.
  const polled = await LineSocket.connect(port);
  t.teardown(() => polled.socket.destroy());
  await client.createStream('idle');
  polled.write(`${JSON.stringify({ operation: 'process_events', body: { stream_name: 'idle', wait_ms: 300 }, request_id: 1 })}\n`
    + `${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's1', from_offset: 'end' }, request_id: 2 })}\n`
    + `${JSON.stringify({ operation: 'health', request_id: 3 })}\n`);
  const answers = [await next(polled), await next(polled), await next(polled)];
  t.same(answers.map((a) => [a.request_id, a.operation, a.code]), [[1, 'process_events', undefined], [2, 'subscribe', undefined], [3, 'health', 'SUBSCRIPTION_ACTIVE']], 'in request order');
});

t.test('exit right behind a subscribe: the subscription\'s first line, then the exit\'s answer, then the close', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  for (let i = 0; i < 4; i++) await client.writeEvent('s', i);
  for (const from of ['end', 3] as const) {
    const socket = await LineSocket.connect(port);
    t.teardown(() => socket.socket.destroy());
    socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_offset: from }, request_id: 10 })}\n`
      + `${JSON.stringify({ operation: 'exit', request_id: 11 })}\n`);
    const lines = [await next(socket)];
    while (lines[lines.length - 1]!.operation !== 'exit') lines.push(await next(socket));
    t.same(from === 'end' ? lines[0]!.body : lines[0]!.body?.events?.map((e) => e.offset), from === 'end' ? { caught_up: true, next_offset: 4 } : [3], `from ${from}: the subscription's first line`);
    t.ok(lines.slice(0, -1).every((l) => l.operation === 'subscribe' && l.request_id === 10 && l.status), 'only subscription lines before the exit');
    t.same(lines[lines.length - 1], { operation: 'exit', status: true, request_id: 11 });
    await socket.closed;
  }
});

t.test('a subscriber\'s FIN ends its subscription and the connection closes, on a quiet stream', async (t) => {
  const { port, server } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('q');
  await client.writeEvent('q', 0);
  const before = server.connectionCount;
  const ended = async (close: (socket: LineSocket) => void, label: string, together = false) => {
    const socket = await LineSocket.connect(port);
    t.teardown(() => socket.socket.destroy());
    const subscribe = `${JSON.stringify({ operation: 'subscribe', body: { stream_name: 'q' } })}\n`;
    if (together) {
      socket.socket.end(subscribe);
    } else {
      socket.write(subscribe);
      t.same((await next(socket)).body!.events!.map((e) => e.offset), [0], `${label}: history`);
      t.equal((await next(socket)).body!.caught_up, true);
      close(socket);
    }
    t.ok(await socket.closesWithin(3000), `${label}: the server closes the connection`);
    if (together) t.same((await next(socket).catch(() => null))?.body?.events?.map((e) => e.offset), [0], `${label}: the first line was sent before the close`);
    if (behindBalancer) return;
    const deadlineMs = Date.now() + 3000;
    while (server.connectionCount > before && Date.now() < deadlineMs) await new Promise((resolve) => setTimeout(resolve, 20));
    t.equal(server.connectionCount, before, `${label}: the server's connection is closed`);
  };
  await ended((socket) => socket.socket.end(), 'half-close');
  await ended((socket) => socket.socket.destroy(), 'destroy');
  await ended(() => {}, 'subscribe and FIN together', true);
  // The TypeScript client's break out of the iterator.
  const subscription = await client.subscribe('q');
  for await (const item of subscription) if (item.kind === 'caught_up') break;
  if (!behindBalancer) {
    const deadlineMs = Date.now() + 3000;
    while (server.connectionCount > before && Date.now() < deadlineMs) await new Promise((resolve) => setTimeout(resolve, 20));
    t.equal(server.connectionCount, before, 'client break: the server\'s connection is closed');
  }
});

t.test('unsubscribe refuses a body that is not an object as list_streams does; the subscription goes on', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  const socket = await LineSocket.connect(port);
  t.teardown(() => socket.socket.destroy());
  const listRefusal = await socket.request({ operation: 'list_streams', body: 5 });
  t.same(listRefusal.context, { field: 'body', expected: 'an object' });
  t.same(await socket.request({ operation: 'unsubscribe', body: 5 }), { ...listRefusal, operation: 'unsubscribe' }, 'not subscribed: the body is refused first');
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's' } })}\n`);
  t.same((await next(socket)).body, { caught_up: true, next_offset: 0 });
  for (const body of [5, 'x', [1], true]) {
    t.same(await socket.request({ operation: 'unsubscribe', body }), { ...listRefusal, operation: 'unsubscribe' }, `body ${JSON.stringify(body)} refused`);
  }
  await client.writeEvent('s', 1);
  t.same((await next(socket)).body!.events!.map((e) => e.offset), [0], 'still subscribed');
  t.same(await socket.request({ operation: 'unsubscribe', body: null }), { operation: 'unsubscribe', status: true, body: { next_offset: 1 } }, 'a null body is none');
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_offset: 'end' } })}\n`);
  await next(socket);
  t.same(await socket.request({ operation: 'unsubscribe', body: {} }), { operation: 'unsubscribe', status: true, body: { next_offset: 1 } }, 'an empty object is fine');
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_offset: 'end' } })}\n`);
  await next(socket);
  t.same(await socket.request({ operation: 'unsubscribe' }), { operation: 'unsubscribe', status: true, body: { next_offset: 1 } }, 'no body at all is fine');
});

t.test('a type in types that no record can hold is named by its element, in words that read', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  const socket = await LineSocket.connect(port);
  t.teardown(() => socket.socket.destroy());
  const expected = (index: number) => ({ code: 'INVALID_FIELD', context: { field: `types[${index}]`, expected: '1 to 255 bytes of UTF-8' }, reason: `types[${index}] must be 1 to 255 bytes of UTF-8` });
  const pick = (r: Record<string, unknown>) => ({ code: r.code, context: r.context, reason: r.reason });
  t.same(pick(await socket.request({ operation: 'get_stream_events', body: { stream_name: 's', types: [''] } })), expected(0));
  t.same(pick(await socket.request({ operation: 'get_stream_events', body: { stream_name: 's', types: ['a', 't'.repeat(256)] } })), expected(1));
  t.same(pick(await socket.request({ operation: 'subscribe', body: { stream_name: 's', types: ['a', 'b', ''] } })), expected(2));
  t.equal(((await socket.request({ operation: 'get_stream_events', body: { stream_name: 's', types: ['a', '\ud800'] } })).context as { field: string }).field, 'types[1]', 'as a lone surrogate is named');
});
