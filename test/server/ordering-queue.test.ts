/**
 * The request queue of a connection (src/server/request-queue.ts), without sockets: what runs
 * together and what waits, responses in request order whatever order requests complete in, the
 * output bound, shutdown draining without changing parsed requests, and in-flight accounting.
 */
import t from 'tap';
import type { ProcessEventsRequest, Request } from '../../src/protocol/requests.js';
import { joinResponses, type Response } from '../../src/protocol/response-bytes.js';
import { DISPATCH_OUTPUT_BYTES, RequestQueue, type RequestQueueHost } from '../../src/server/request-queue.js';

/** What the connection writes from one take: the responses joined, and whether it closes. */
function take(queue: RequestQueue): { out: string; close: boolean } {
  const taken: Response[] = [];
  const close = queue.takeAnswered(taken);
  return { out: taken.length === 0 ? '' : joinResponses(taken, taken.length).toString('utf8'), close };
}

/** A host whose requests complete when the test says, recording what ran and in what order. */
class FakeHost implements RequestQueueHost {
  readonly started: { request: Request; id: string | undefined }[] = [];
  private readonly pending = new Map<string, { resolve(line: string): void; reject(error: unknown): void }>();
  /** Requests answered synchronously (reads), by id. */
  readonly immediate = new Map<string, string>();
  open = true;
  answeredCalls = 0;

  execute(request: Request, id: string | undefined): string | Promise<string> {
    this.started.push({ request, id });
    const now = this.immediate.get(id ?? '');
    if (now !== undefined) return now;
    return new Promise((resolve, reject) => this.pending.set(id ?? '', { resolve, reject }));
  }

  failure(operation: string, error: unknown, id: string | undefined): string {
    return `failed ${operation} ${id}: ${(error as Error).message}\n`;
  }

  canDispatch(): boolean {
    return this.open;
  }

  answered(): void {
    this.answeredCalls += 1;
  }

  complete(id: string, line = `done ${id}\n`): void {
    this.pending.get(id)!.resolve(line);
    this.pending.delete(id);
  }

  fail(id: string, error: Error): void {
    this.pending.get(id)!.reject(error);
    this.pending.delete(id);
  }

  startedIds(): (string | undefined)[] {
    return this.started.map((s) => s.id);
  }
}

const write = (): Request => ({ operation: 'write_event', streamName: 's', extras: null, event: Buffer.from('{}') });
const info = (): Request => ({ operation: 'get_stream_info', streamName: 's' });
const poll = (waitMs: number | undefined): ProcessEventsRequest => ({ operation: 'process_events', streamName: 's', consumer: undefined, maxEvents: undefined, waitMs, autoAck: false, start: undefined, filter: { key: undefined, types: undefined } });

/** Lets the promise callbacks of completed requests run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

t.test('consecutive writes run together; any other request waits for them and holds back what follows', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  queue.enqueue(write(), '1', false, 10, false);
  queue.enqueue(write(), '2', false, 10, false);
  queue.enqueue(info(), '3', true, 10, false);
  queue.enqueue(write(), '4', false, 10, false);
  t.same(host.startedIds(), ['1', '2'], 'both writes started at once; the exclusive request waits');
  host.complete('2');
  await settle();
  t.same(host.startedIds(), ['1', '2'], 'still waiting: the first write has not completed');
  host.complete('1');
  await settle();
  t.same(host.startedIds(), ['1', '2', '3'], 'the exclusive request starts once everything before it completed');
  host.complete('3');
  await settle();
  t.same(host.startedIds(), ['1', '2', '3', '4'], 'and what follows it only after it completed');
});

const mark = (): Request => ({ operation: 'mark_event', eventIds: ['x'], status: 1, consumer: undefined });

t.test('consumer requests after a mark applied at dispatch start while it commits; anything else waits for it', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  queue.enqueue(write(), 'w', false, 10, false);
  queue.enqueue(mark(), 'm1', true, 10, false, true);
  queue.enqueue(poll(0), 'p1', true, 10, false);
  t.same(host.startedIds(), ['w'], 'the mark still waits for everything before it');
  host.complete('w');
  await settle();
  t.same(host.startedIds(), ['w', 'm1', 'p1'], 'the fetch after the mark starts at once: the mark is already applied');
  queue.enqueue(mark(), 'm2', true, 10, false, true);
  t.same(host.startedIds(), ['w', 'm1', 'p1'], 'a fetch holds back what follows it until it completes');
  host.complete('p1');
  await settle();
  t.same(host.startedIds(), ['w', 'm1', 'p1', 'm2'], 'a mark after the fetch starts, although the first mark is not yet durable');
  queue.enqueue(info(), 'i', true, 10, false);
  queue.enqueue(write(), 'w2', false, 10, false);
  t.same(host.startedIds(), ['w', 'm1', 'p1', 'm2'], 'other requests wait for the marks to complete');
  host.complete('m2');
  await settle();
  t.same(take(queue).out, 'done w\n', 'answers stay in order: nothing after the first mark, which is not answered yet');
  t.same(host.startedIds(), ['w', 'm1', 'p1', 'm2'], 'still one mark running');
  host.complete('m1');
  await settle();
  t.same(host.startedIds(), ['w', 'm1', 'p1', 'm2', 'i'], 'then the read starts');
  t.same(take(queue).out, 'done m1\ndone p1\ndone m2\n');
  host.complete('i');
  await settle();
  t.same(host.startedIds(), ['w', 'm1', 'p1', 'm2', 'i', 'w2']);
});

t.test('a mark not applied at dispatch (ids of several streams) holds back everything after it', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  queue.enqueue(mark(), 'm', true, 10, false, false);
  queue.enqueue(poll(0), 'p', true, 10, false);
  t.same(host.startedIds(), ['m']);
  host.complete('m');
  await settle();
  t.same(host.startedIds(), ['m', 'p']);
});

t.test('responses are taken in request order, whatever order requests complete in', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  for (const id of ['a', 'b', 'c']) queue.enqueue(write(), id, false, 5, false);
  host.complete('c');
  host.complete('b');
  await settle();
  t.same(take(queue), { out: '', close: false }, 'nothing before the first response is ready');
  host.complete('a');
  await settle();
  t.same(take(queue), { out: 'done a\ndone b\ndone c\n', close: false });
  t.equal(queue.inFlight, 0);
  t.equal(queue.inFlightBytes, 0, 'bytes are released as responses are taken');
});

t.test('responses answered on arrival wait for their turn', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  queue.enqueue(write(), 'w', false, 7, false);
  queue.answer('health\n', false);
  t.equal(queue.inFlight, 2);
  t.equal(queue.inFlightBytes, 7, 'answered slots carry no bytes');
  t.same(take(queue).out, '', 'the health answer waits behind the write');
  host.complete('w');
  await settle();
  t.same(take(queue).out, 'done w\nhealth\n');
});

t.test('a response that closes the connection ends the take; nothing after it is taken', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  queue.answer('first\n', false);
  queue.answer('fatal\n', true);
  queue.answer('after\n', false);
  t.same(take(queue), { out: 'first\nfatal\n', close: true });
});

t.test('a rejected request is answered with the failure line, in its turn', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  queue.enqueue(info(), 'x', true, 1, false);
  host.fail('x', new Error('boom'));
  await settle();
  t.same(take(queue).out, 'failed get_stream_info x: boom\n');
});

t.test('nothing is dispatched while the host cannot take responses; dispatch resumes it', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  host.open = false;
  queue.enqueue(write(), '1', false, 1, false);
  t.same(host.startedIds(), [], 'held while output is blocked');
  host.open = true;
  queue.dispatch();
  t.same(host.startedIds(), ['1']);
});

t.test('dispatch stops once the responses computed at once pass the output bound, until they are taken', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  const big = 'x'.repeat(DISPATCH_OUTPUT_BYTES / 2 + 1);
  for (const id of ['r1', 'r2', 'r3']) host.immediate.set(id, big);
  queue.enqueue(info(), 'r1', true, 1, false);
  queue.enqueue(info(), 'r2', true, 1, false);
  queue.enqueue(info(), 'r3', true, 1, false);
  t.same(host.startedIds(), ['r1', 'r2'], 'the third read waits: two responses already pass the bound');
  t.equal(take(queue).out.length, 2 * big.length);
  queue.dispatch();
  t.same(host.startedIds(), ['r1', 'r2', 'r3'], 'taking them lets dispatch go on');
});

t.test('after drain, a long-poll runs without waiting, and the parsed request is not changed', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  const blocker = info();
  const held = poll(5000);
  const immediate = poll(undefined);
  queue.enqueue(blocker, 'b', true, 1, false);
  queue.enqueue(held, 'p', true, 1, false);
  queue.enqueue(immediate, 'q', true, 1, false);
  queue.drain();
  host.complete('b');
  await settle();
  const ran = host.started[1]!.request;
  t.equal(ran.operation, 'process_events');
  t.equal(ran.operation === 'process_events' ? ran.waitMs : -1, 0, 'it ran with wait_ms 0');
  t.equal(held.waitMs, 5000, 'the request object itself is unchanged');
  t.not(ran, held, 'a copy ran');
  host.complete('p');
  await settle();
  t.equal(immediate.waitMs, undefined, 'a request without wait_ms is left as it is too');
});

t.test('a long-poll dispatched before drain keeps its wait (the engine ends it at shutdown)', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  const held = poll(5000);
  queue.enqueue(held, 'p', true, 1, false);
  queue.drain();
  t.equal(host.started[0]!.request, held, 'ran as received');
});

t.test('thousands of pipelined requests stay in order across the queue compaction', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  let taken = '';
  let expected = '';
  let completed = 0;
  for (let i = 0; i < 3000; i++) {
    queue.enqueue(write(), String(i), false, 1, false);
    expected += `done ${i}\n`;
    if (i % 7 === 0) {
      for (; completed <= i; completed++) host.complete(String(completed));
      await settle();
      taken += take(queue).out;
    }
  }
  for (; completed < 3000; completed++) host.complete(String(completed));
  await settle();
  taken += take(queue).out;
  t.equal(taken, expected, 'every response once, in order');
  t.equal(queue.inFlight, 0);
});

t.test('after close nothing more is dispatched and late responses are dropped', async (t) => {
  const host = new FakeHost();
  const queue = new RequestQueue(host);
  queue.enqueue(info(), '1', true, 1, false);
  queue.enqueue(info(), '2', true, 1, false);
  queue.close();
  const calls = host.answeredCalls;
  host.complete('1');
  await settle();
  t.same(host.startedIds(), ['1'], 'the second request never ran');
  t.equal(host.answeredCalls, calls, 'the late response was not announced');
  t.equal(queue.inFlight, 0);
});
