/**
 * The writer of the `subscribe-latency` workload (subscribe-latency.ts), in a process of its own
 * like the subscribers: the bench process has run every earlier workload and holds their
 * results, and its garbage collections (scavenges of 5–13 ms were seen there) would land in the
 * measured latencies, both as late answers and as late sends.
 *
 *   node subscribe-latency-writer.js eventbus|nats|redis PORT STREAM RATE WARMUP MEASURED
 *
 * writes events `{s, t, pad}` (s = 0 … WARMUP + MEASURED − 1; t the send time on the clock every
 * process shares: performance.timeOrigin + performance.now(), ms) at RATE events/s, open loop:
 * eventbus over 4 pipelined raw connections, Redis with XADD (the event as field `d`) over 4 pipelined
 * RESP connections, NATS with `js.publish` on one connection. It prints
 * `{"measuring":1}` when the measured events start, then, once every write is answered, its
 * result as the last JSON line: the answers' latency histogram for the measured events (hdr,
 * compressed base64), how many were sent and answered, how many failed, and its own CPU while
 * sending the measured events (% of one core).
 */
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { connect } from 'nats';
import { localEndpoint } from '../../src/cli/bench/endpoint.js';
import { WRITE_OK, requestLine } from '../../src/cli/bench/eventbus-load.js';
import { newHistogram, recordMs } from '../../src/cli/bench/histogram.js';
import { openLines } from '../../src/cli/bench/pipelined-connection.js';
import { NATS_CLIENT_OPTIONS } from '../core/nats-client.js';
import { openResp, respCommand } from '../core/resp.js';

const WRITERS = 4;
/** How long the writes may take to be answered after the last is sent. */
const ANSWER_TIMEOUT_MS = 10_000;
const PAD = 'x'.repeat(60);

const [system, portText, stream, rateText, warmupText, measuredText] = process.argv.slice(2);
const port = Number(portText);
const ratePerSecond = Number(rateText);
const warmup = Number(warmupText);
const measured = Number(measuredText);

const acks = newHistogram();
let answered = 0;
let failures = 0;

/** Sends event `seq`; calls `answer(ok)` when its write is answered. */
type Send = (seq: number, answer: (ok: boolean) => void) => void;

function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Calls `send` for seq `first` … `first + count − 1` at `ratePerSecond`, from now. The sends due
 * at one tick are a burst between `burst.before` and `burst.after` (eventbus corks its writers'
 * sockets: a burst goes out in one write per connection, at once, as the NATS client's own
 * buffering does).
 */
async function openLoop(first: number, count: number, send: (seq: number) => void, burst?: { before(): void; after(): void }): Promise<void> {
  const started = performance.now();
  let sent = 0;
  while (sent < count) {
    const due = Math.min(count, Math.floor(((performance.now() - started) * ratePerSecond) / 1000));
    if (sent < due) {
      burst?.before();
      while (sent < due) send(first + sent++);
      burst?.after();
    }
    // A timer, not setImmediate: spinning would take a core from the server on a 2-core machine.
    // The due sends go out together every ~1 ms (10 at 10,000/s), each stamped when sent.
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Stamps and sends event `seq`, recording its answer's latency if it is a measured one. */
function stamped(send: Send): (seq: number) => void {
  return (seq) => {
    const sentMs = performance.now();
    send(seq, (ok) => {
      answered += 1;
      if (!ok) failures += 1;
      else if (seq >= warmup) recordMs(acks, performance.now() - sentMs);
    });
  };
}

async function eventbusWriter(): Promise<{ send: Send; burst: { before(): void; after(): void }; close(): void }> {
  const writers = await openLines(localEndpoint(port), WRITERS);
  return {
    send: (seq, answer) => {
      const line = requestLine('write_event', { stream_name: stream, event: { s: seq, t: now(), pad: PAD } });
      writers[seq % WRITERS]!.send(line).then((reply) => answer(reply.startsWith(WRITE_OK)), () => answer(false));
    },
    burst: { before: () => writers.forEach((w) => w.cork()), after: () => writers.forEach((w) => w.uncork()) },
    close: () => writers.forEach((w) => w.close()),
  };
}

async function redisWriter(): Promise<{ send: Send; burst: { before(): void; after(): void }; close(): void }> {
  const writers = await openResp(port, WRITERS);
  return {
    send: (seq, answer) => {
      const command = respCommand(['XADD', stream!, '*', 'd', JSON.stringify({ s: seq, t: now(), pad: PAD })]);
      // XADD answers the new entry's id (a string), or an error.
      writers[seq % WRITERS]!.send(command).then((reply) => answer(typeof reply === 'string'), () => answer(false));
    },
    burst: { before: () => writers.forEach((w) => w.cork()), after: () => writers.forEach((w) => w.uncork()) },
    close: () => writers.forEach((w) => w.close()),
  };
}

async function natsWriter(): Promise<{ send: Send; close(): Promise<void> }> {
  const connection = await connect({ ...NATS_CLIENT_OPTIONS, servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 });
  const js = connection.jetstream();
  return {
    send: (seq, answer) => {
      js.publish(stream!, JSON.stringify({ s: seq, t: now(), pad: PAD })).then(() => answer(true), () => answer(false));
    },
    close: () => connection.close(),
  };
}

async function main(): Promise<void> {
  if (!Number.isSafeInteger(port) || !(ratePerSecond > 0) || !Number.isSafeInteger(warmup) || !Number.isSafeInteger(measured) || measured < 1) {
    throw new Error('usage: subscribe-latency-writer.js eventbus|nats|redis PORT STREAM RATE WARMUP MEASURED');
  }
  const writer = system === 'nats' ? await natsWriter() : system === 'redis' ? await redisWriter() : await eventbusWriter();
  const send = stamped(writer.send);
  const burst = 'burst' in writer ? writer.burst : undefined;
  await openLoop(0, warmup, send, burst);
  process.stdout.write('{"measuring":1}\n');
  const cpuBefore = process.cpuUsage();
  const startedMs = performance.now();
  await openLoop(warmup, measured, send, burst);
  const cpu = process.cpuUsage(cpuBefore);
  const elapsedMs = performance.now() - startedMs;
  for (let waited = 0; answered < warmup + measured && waited < ANSWER_TIMEOUT_MS; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  await writer.close();
  const result = {
    sent: warmup + measured,
    answered,
    failures,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100,
    histogram: encodeIntoCompressedBase64(acks),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
