/**
 * The engine's catch-up subscription (bus/subscription.ts) below the server, with a sink of the
 * test's own: what an ending says it sent, and truncation under a subscriber that is behind.
 */
import path from 'node:path';
import t from 'tap';
import type { EventBusError } from '../../src/errors.js';
import type { EventView } from '../../src/bus/results.js';
import { Subscription, type SubscriptionSink } from '../../src/bus/subscription.js';
import { Engine } from '../../src/storage/engine.js';
import { tempDir } from '../helpers/server-process.js';

class Sink implements SubscriptionSink {
  offsets: number[] = [];
  caught: number | null = null;
  end: EventBusError | null = null;
  bufferedBytes = 0;
  events(events: readonly EventView[]): void {
    for (const event of events) this.offsets.push(event.offset);
  }
  caughtUp(nextOffset: number): void {
    this.caught = nextOffset;
  }
  ended(error: EventBusError): void {
    this.end = error;
  }
}

const LIMITS = { pageEvents: 2, pageBytes: 1 << 20, historyBufferBytes: 100, maxBufferedBytes: 1 << 20 };
const turn = () => new Promise((resolve) => setTimeout(resolve, 20));

t.test('a subscriber behind a truncation goes on from the new first offset, not from a page read before it', async (t) => {
  const engine = await Engine.open({ dataDir: path.join(tempDir(t), 'data') });
  t.teardown(() => engine.close());
  const stream = await engine.createStream('s');
  for (let i = 0; i < 10; i++) await engine.append('s', Buffer.from(String(i)));
  const views = (_: unknown, stored: ReturnType<Engine['read']>) => stored.map((e) => ({ offset: e.offset }) as unknown as EventView);
  const start = { fromOffset: 0, fromEnd: false, fromTimeMs: undefined };
  // A reads every page from 0 (they are kept for the stream's other subscribers).
  const ahead = new Sink();
  const a = Subscription.start(engine, stream, start, views, ahead, LIMITS);
  t.teardown(() => a.stop());
  // B has unread output: it waits at 0 before its first read.
  const behind = new Sink();
  behind.bufferedBytes = 1000;
  const b = Subscription.start(engine, stream, start, views, behind, LIMITS);
  t.teardown(() => b.stop());
  await turn();
  t.same(ahead.offsets, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.same(behind.offsets, [], 'B waits');
  await engine.truncate('s', 5);
  behind.bufferedBytes = 0;
  b.resume();
  await turn();
  t.same(behind.offsets, [5, 6, 7, 8, 9], 'B goes on from the first offset: no removed event, from the shared pages or elsewhere');
  t.equal(behind.caught, 10);
  await engine.deleteStream('s');
  await turn();
  t.same(behind.end?.context, { last_offset: 9, next_offset: 10 }, 'the ending: the last event sent, where to resume');
});
