/**
 * The subscribers of the `subscribe-latency` workload (subscribe-latency.ts), in a process of
 * their own so that their work does not delay the writer's send stamps (the writer has a process
 * of its own too, subscribe-latency-writer.ts):
 *
 *   node subscribe-latency-child.js eventbus|nats|redis PORT STREAM SUBSCRIBERS FROM_SEQ EVENTS
 *
 * opens SUBSCRIBERS live subscriptions of STREAM (eventbus: raw `subscribe` connections from the
 * end; Redis: a loop of `XREAD BLOCK 0` from the last id each, one connection each, from the
 * start of the stream, which is empty when they open; NATS: ordered JetStream consumers
 * delivering new messages, one connection each), prints
 * `{"ready":1}` once they are open, `{"complete":1}` once each has every measured event, and records now − t for every event `{s, t, pad}` with
 * FROM_SEQ ≤ s < FROM_SEQ + EVENTS (the measured ones; t is the send time on the clock both
 * processes share: performance.timeOrigin + performance.now(), ms). On SIGUSR2 it stops, closes
 * the subscriptions and prints its result as the last JSON line: the latency histogram
 * (hdr, compressed base64, µs), events received (each subscriber's measured events, counted once),
 * duplicates (an event a subscriber got twice: must be 0), and the smallest latency seen (a
 * negative one would mean the two clocks disagree).
 *
 * Per event a subscriber only finds `"s":` and `"t":` in the bytes and reads two numbers (no
 * JSON.parse), alike for both systems, so the child's cost per event is small and the same.
 */
import net from 'node:net';
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { DeliverPolicy, connect, type ConsumerMessages, type NatsConnection } from 'nats';
import { newHistogram, recordMs } from '../../src/cli/bench/histogram.js';
import { NATS_CLIENT_OPTIONS } from '../core/nats-client.js';
import { openResp, respCommand, type RespValue } from '../core/resp.js';

const S_KEY = Buffer.from('"s":');
const T_KEY = Buffer.from('"t":');
const NEXT_OFFSET_KEY = Buffer.from('"next_offset":');
const SUBSCRIBE_OK = Buffer.from('{"operation":"subscribe","status":true');
const NEWLINE = 10;

const [system, portText, stream, subscribersText, fromSeqText, eventsText] = process.argv.slice(2);
const port = Number(portText);
const subscribers = Number(subscribersText);
const fromSeq = Number(fromSeqText);
const measuredEvents = Number(eventsText);

const histogram = newHistogram();
let received = 0;
let duplicates = 0;
let minLatencyMs = Number.POSITIVE_INFINITY;
let stopped = false;

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Reads the unsigned decimal number (integer or with a fraction) at `at`; returns NaN if none. */
function numberAt(bytes: Uint8Array, at: number, end: number): { value: number; next: number } {
  let value = 0;
  let i = at;
  let digits = 0;
  for (; i < end && bytes[i]! >= 48 && bytes[i]! <= 57; i++, digits++) value = value * 10 + (bytes[i]! - 48);
  if (i < end && bytes[i] === 46) {
    let scale = 0.1;
    for (i++; i < end && bytes[i]! >= 48 && bytes[i]! <= 57; i++, digits++, scale /= 10) value += (bytes[i]! - 48) * scale;
  }
  return { value: digits === 0 ? Number.NaN : value, next: i };
}

/** One subscriber's record of which measured events it has had, so each counts once. */
class Tally {
  private readonly seen = new Uint8Array(measuredEvents);

  /** Records event `seq` sent at `sentMs`, received at `receivedMs`. */
  event(seq: number, sentMs: number, receivedMs: number): void {
    if (stopped || seq < fromSeq || seq >= fromSeq + measuredEvents) return;
    if (this.seen[seq - fromSeq] === 1) {
      duplicates += 1;
      return;
    }
    this.seen[seq - fromSeq] = 1;
    received += 1;
    // Every subscriber has every measured event: the parent need not wait out its grace.
    if (received === subscribers * measuredEvents) process.stdout.write('{"complete":1}\n');
    const latencyMs = receivedMs - sentMs;
    if (latencyMs < minLatencyMs) minLatencyMs = latencyMs;
    recordMs(histogram, latencyMs);
  }
}

/**
 * Finds every `"s":N,…"t":T` in `bytes[start, end)` (an event body `{s, t, pad}`: nothing else in
 * a subscription's line or a NATS message has a member named `s` or `t`); returns how many.
 */
function scanEvents(bytes: Buffer, start: number, end: number, tally: Tally, receivedMs: number): number {
  let found = 0;
  let at = bytes.indexOf(S_KEY, start);
  while (at !== -1 && at < end) {
    const seq = numberAt(bytes, at + S_KEY.length, end);
    const tAt = bytes.indexOf(T_KEY, seq.next);
    if (tAt === -1 || tAt >= end) throw new Error(`an event without "t" at byte ${at}`);
    const sent = numberAt(bytes, tAt + T_KEY.length, end);
    if (Number.isNaN(seq.value) || Number.isNaN(sent.value)) throw new Error(`an event without numbers at byte ${at}`);
    tally.event(seq.value, sent.value, receivedMs);
    found += 1;
    at = bytes.indexOf(S_KEY, sent.next);
  }
  return found;
}

/** A raw `subscribe` connection: lines split on newline, each event found by scanning its bytes. */
async function eventbusSubscriber(): Promise<() => Promise<void>> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const tally = new Tally();
  let carry: Buffer | null = null;
  let nextOffset = -1;
  let failure: Error | null = null;
  let caughtUp: () => void;
  const ready = new Promise<void>((resolve) => (caughtUp = resolve));
  const line = (bytes: Buffer, start: number, end: number, receivedMs: number) => {
    if (bytes.compare(SUBSCRIBE_OK, 0, SUBSCRIBE_OK.length, start, Math.min(end, start + SUBSCRIBE_OK.length)) !== 0) {
      throw new Error(`subscription ended: ${bytes.toString('utf8', start, Math.min(end, start + 300))}`);
    }
    const events = scanEvents(bytes, start, end, tally, receivedMs);
    const offsetAt = bytes.lastIndexOf(NEXT_OFFSET_KEY, end);
    const next = offsetAt < start ? Number.NaN : numberAt(bytes, offsetAt + NEXT_OFFSET_KEY.length, end).value;
    // The first line (caught_up, from the end: no history) sets the cursor; every later line must
    // move it by exactly the events it carries (no filter): no event missed or repeated.
    if (nextOffset === -1) {
      if (events !== 0) throw new Error('events before the caught-up line of a subscription from the end');
      nextOffset = next;
      caughtUp();
      return;
    }
    if (next - nextOffset !== events) throw new Error(`a line of ${events} events moved next_offset from ${nextOffset} to ${next}`);
    nextOffset = next;
  };
  socket.on('data', (chunk: Buffer) => {
    const receivedMs = now();
    try {
      let bytes = chunk;
      if (carry !== null) {
        bytes = Buffer.concat([carry, chunk]);
        carry = null;
      }
      let start = 0;
      for (let end = bytes.indexOf(NEWLINE, start); end !== -1; end = bytes.indexOf(NEWLINE, start)) {
        line(bytes, start, end, receivedMs);
        start = end + 1;
      }
      if (start < bytes.length) carry = Buffer.from(bytes.subarray(start));
    } catch (error) {
      failure = error as Error;
      socket.destroy();
    }
  });
  socket.on('error', (error) => (failure ??= error));
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: stream, from_offset: 'end' } })}\n`);
  await ready;
  return async () => {
    socket.destroy();
    if (failure !== null) throw failure;
  };
}

/** An ordered JetStream consumer of new messages on a connection of its own; each message's data scanned as eventbus's lines are. */
async function natsSubscriber(): Promise<() => Promise<void>> {
  const connection: NatsConnection = await connect({ ...NATS_CLIENT_OPTIONS, servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 });
  const consumer = await connection.jetstream().consumers.get(stream!, { deliver_policy: DeliverPolicy.New });
  const messages: ConsumerMessages = await consumer.consume({ max_messages: 10_000 });
  const tally = new Tally();
  const done = (async () => {
    for await (const message of messages) {
      const receivedMs = now();
      const data = message.data;
      const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (scanEvents(bytes, 0, bytes.length, tally, receivedMs) !== 1) throw new Error(`a message that is not one event: ${bytes.toString('utf8', 0, 200)}`);
    }
  })();
  done.catch(() => {}); // rethrown by the closer below
  return async () => {
    messages.stop();
    await connection.close();
    await done;
  };
}

/**
 * A Redis reader: `XREAD BLOCK 0 STREAMS stream <last id>` again as soon as each answer comes
 * (what a Redis client following a stream does); each entry's `d` scanned as eventbus's lines are.
 */
async function redisSubscriber(): Promise<() => Promise<void>> {
  const [connection] = await openResp(port, 1);
  const tally = new Tally();
  let lastId = '0-0';
  let closed = false;
  const done = (async () => {
    while (!closed) {
      const reply = await connection!.send(respCommand(['XREAD', 'BLOCK', 0, 'STREAMS', stream!, lastId]));
      const receivedMs = now();
      if (reply instanceof Error) throw reply;
      // [[stream, [[id, ['d', event]], …]]]
      const entries = ((reply as RespValue[][])[0]![1] as RespValue[][]);
      for (const [id, fields] of entries as [string, string[]][]) {
        const bytes = Buffer.from(fields[1]!, 'latin1');
        if (scanEvents(bytes, 0, bytes.length, tally, receivedMs) !== 1) throw new Error(`an entry that is not one event: ${fields[1]!.slice(0, 200)}`);
        lastId = id;
      }
    }
  })();
  done.catch(() => {}); // rethrown by the closer below, unless it ended because the connection closed
  return async () => {
    closed = true;
    connection!.close();
    await done.catch((error: unknown) => {
      if (!stopped) throw error;
    });
  };
}

async function main(): Promise<void> {
  if (!Number.isSafeInteger(port) || !Number.isSafeInteger(subscribers) || subscribers < 1 || !Number.isSafeInteger(fromSeq) || !Number.isSafeInteger(measuredEvents) || measuredEvents < 1) {
    throw new Error('usage: subscribe-latency-child.js eventbus|nats|redis PORT STREAM SUBSCRIBERS FROM_SEQ EVENTS');
  }
  const open = system === 'nats' ? natsSubscriber : system === 'redis' ? redisSubscriber : eventbusSubscriber;
  const closers = await Promise.all(Array.from({ length: subscribers }, () => open()));
  const stop = new Promise<void>((resolve) => process.once('SIGUSR2', () => resolve()));
  process.stdout.write('{"ready":1}\n');
  await stop;
  stopped = true;
  const failures: unknown[] = [];
  for (const close of closers) await close().catch((error: unknown) => failures.push(error));
  if (failures.length > 0) throw failures[0];
  const result = { received, duplicates, minLatencyMs: Number.isFinite(minLatencyMs) ? minLatencyMs : null, histogram: encodeIntoCompressedBase64(histogram) };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
