/**
 * A subscriber that keeps reading, slowly, over the wire (server/connection.ts,
 * server/subscription-session.ts): while it catches up it is fed at its own pace and never cut
 * off as a client that does not read, whatever output_stall_timeout_ms is (the kernel's socket
 * buffers take output in steps of up to megabytes, so a slow reader's output may not drain for
 * longer than that); once live and too far behind, its subscription ends with SLOW_CONSUMER and
 * its position, a line it gets after every event before it, and it resumes from there without loss.
 */
import net from 'node:net';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { serverFor } from '../helpers/server-inprocess.js';

type Line = { operation: string; status: boolean; body?: { events?: { offset: number }[]; caught_up?: boolean; next_offset?: number }; code?: string; context?: { last_offset: number; next_offset: number } };

/** Events of about 1 KB each, written in batches of 1,000. */
async function fill(client: EventBusClient, count: number): Promise<void> {
  const pad = 'x'.repeat(1000);
  for (let start = 0; start < count; start += 1000) {
    await client.appendEvents('s', Array.from({ length: Math.min(1000, count - start) }, (_, i) => ({ body: { i: start + i, pad } })));
  }
}

/**
 * A client that reads `bytesPerTick` every 10 ms (about 4 MB/s for 40,000: far slower than the
 * server writes) and hands each line it completes to `line`, until `line` returns true or the
 * connection ends (resolves false then).
 */
function readSlowly(socket: net.Socket, bytesPerTick: number, line: (parsed: Line) => boolean): Promise<boolean> {
  socket.pause();
  let pending = '';
  return new Promise((resolve) => {
    const tick = (): void => {
      const available = socket.readableLength;
      const chunk = available > 0 ? (socket.read(Math.min(bytesPerTick, available)) as Buffer | null) : (socket.read(0) as null, null);
      if (chunk !== null) {
        pending += chunk.toString('utf8');
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const text = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          if (line(JSON.parse(text) as Line)) return resolve(true);
        }
      } else if (socket.readableEnded || socket.destroyed) {
        return resolve(false);
      }
      setTimeout(tick, 10);
    };
    socket.once('end', () => setImmediate(tick));
    tick();
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

// About 8 MB: more than the kernel's socket buffers take on loopback (about 4 MB here), so that
// output waits in the server, undrained for longer than output_stall_timeout_ms.
const EVENTS = 8000;
/** Live, twice that: the kernel's buffers fill, then max_subscription_buffer_bytes. */
const LIVE_EVENTS = 16_000;

t.test('a subscriber catching up that reads slowly is fed at its pace, not cut off by output_stall_timeout_ms', async (t) => {
  const { port } = await serverFor(t, { limits: { outputStallTimeoutMs: 100 } });
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  await fill(client, EVENTS);
  const socket = await connect(port);
  t.teardown(() => socket.destroy());
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's' } })}\n`);
  const offsets: number[] = [];
  let caughtUp: Line['body'] | undefined;
  const done = await readSlowly(socket, 40_000, (line) => {
    if (!line.status) {
      t.fail(`ended: ${JSON.stringify(line)}`);
      return true;
    }
    for (const event of line.body!.events ?? []) offsets.push(event.offset);
    if (line.body!.caught_up === true) caughtUp = line.body;
    return caughtUp !== undefined;
  });
  t.ok(done, 'the connection stayed open while the subscriber read');
  t.equal(offsets.length, EVENTS, 'every event of the history');
  t.ok(offsets.every((offset, i) => offset === i), 'in order, once each');
  t.same(caughtUp, { caught_up: true, next_offset: EVENTS });
  socket.write(`${JSON.stringify({ operation: 'unsubscribe' })}\n`);
  let bye: Line | undefined;
  await readSlowly(socket, 1 << 20, (line) => (bye = line) !== undefined);
  t.same(bye, { operation: 'unsubscribe', status: true, body: { next_offset: EVENTS } }, 'still subscribed: unsubscribe answers');
});

t.test('a live subscriber that falls behind ends with SLOW_CONSUMER and its position, and resumes there without loss', async (t) => {
  const { port } = await serverFor(t, { limits: { outputStallTimeoutMs: 100, maxSubscriptionBufferBytes: 2 * 1024 * 1024 } });
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  const socket = await connect(port);
  t.teardown(() => socket.destroy());
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_offset: 'end' } })}\n`);
  const offsets: number[] = [];
  let ending: Line | undefined;
  let writing: Promise<void> | undefined;
  const done = await readSlowly(socket, 40_000, (line) => {
    if (line.body?.caught_up === true) writing = fill(client, LIVE_EVENTS); // live from here
    if (!line.status) ending = line;
    for (const event of line.body?.events ?? []) offsets.push(event.offset);
    return ending !== undefined;
  });
  await writing;
  t.ok(done, 'the subscriber got its ending line before any close');
  t.equal(ending?.code, 'SLOW_CONSUMER');
  const { last_offset: last, next_offset: resumeAt } = ending!.context!;
  t.ok(offsets.length > 0 && offsets.length < LIVE_EVENTS, `it fell behind after some events (${offsets.length})`);
  t.ok(offsets.every((offset, i) => offset === i), 'every event before the ending, in order');
  t.equal(last, offsets[offsets.length - 1], 'last_offset: the last event it got');
  t.equal(resumeAt, last + 1, 'next_offset: the one after');

  const again = await connect(port);
  t.teardown(() => again.destroy());
  again.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's', from_offset: resumeAt } })}\n`);
  const rest: number[] = [];
  t.ok(await readSlowly(again, 1 << 20, (line) => {
    for (const event of line.body?.events ?? []) rest.push(event.offset);
    return line.body?.caught_up === true || !line.status;
  }), 'resubscribed');
  t.same([...offsets, ...rest], Array.from({ length: LIVE_EVENTS }, (_, i) => i), 'nothing lost, nothing repeated');
});
