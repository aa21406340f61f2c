/**
 * Engine.eventWatch (long-polls.ts), the wait a live subscription arms after every read: woken
 * once, after the call that armed it, when an event at the offset given or later is visible
 * (durable under `always`), with false when the stream is deleted or the store closes, and never
 * after it is disarmed. It has no timer: a watch armed for longer than any timeout still wakes.
 */
import t from 'tap';
import { openEngine, payload, sleep } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A watch's wake-ups, in order; `next()` resolves with the next one. */
class Seen {
  readonly calls: boolean[] = [];
  private waiting: ((arrived: boolean) => void) | null = null;
  readonly woken = (arrived: boolean): void => {
    this.calls.push(arrived);
    this.waiting?.(arrived);
    this.waiting = null;
  };
  next(): Promise<boolean> {
    return new Promise((resolve) => (this.waiting = resolve));
  }
}

const event = (i: number) => payload(`e${i}`, 16);

t.test('an armed watch wakes once, when an event at its offset becomes visible, and can be armed again', async (t) => {
  const engine = await openEngine(tempDir(t, 'watch'));
  t.teardown(() => engine.close());
  await engine.createStream('s');
  await engine.append('s', event(0));
  const seen = new Seen();
  const watch = engine.eventWatch('s', seen.woken);

  watch.arm(0);
  t.same(seen.calls, [], 'never inside the call that armed it, even with the event already there');
  await sleep(0);
  t.same(seen.calls, [true], 'woken at once for an event already visible');

  watch.arm(1);
  await sleep(20);
  t.same(seen.calls, [true], 'not woken while nothing new is visible');
  const woke = seen.next();
  const appended = engine.append('s', event(1));
  t.equal(await woke, true, 'woken by the next event');
  const { offset } = await appended;
  t.equal(offset, 1);
  t.ok(engine.bounds('s').nextOffset > 1, 'the event it was woken for is readable');
  await engine.append('s', event(2));
  await sleep(0);
  t.same(seen.calls, [true, true], 'once per arm: later events do not wake it again');
});

t.test('a disarmed watch is never called', async (t) => {
  const engine = await openEngine(tempDir(t, 'disarm'));
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const calls: boolean[] = [];
  const watch = engine.eventWatch('s', (arrived) => calls.push(arrived));
  watch.arm(0);
  watch.disarm();
  await engine.append('s', event(0));
  await sleep(0);
  watch.arm(5);
  watch.disarm();
  await engine.deleteStream('s');
  await sleep(0);
  t.same(calls, [], 'neither by an event nor by the stream being deleted');
});

t.test('deleting the stream wakes a watch with false, and a watch of a missing stream cannot be made', async (t) => {
  const engine = await openEngine(tempDir(t, 'delete'));
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const seen = new Seen();
  const watch = engine.eventWatch('s', seen.woken);
  watch.arm(0);
  const woke = seen.next();
  await engine.deleteStream('s');
  t.equal(await woke, false);
  t.throws(() => engine.eventWatch('s', () => {}), { code: 'STREAM_NOT_FOUND' });
});

t.test('closing the store wakes a watch with false', async (t) => {
  const engine = await openEngine(tempDir(t, 'close'));
  await engine.createStream('s');
  const seen = new Seen();
  const watch = engine.eventWatch('s', seen.woken);
  watch.arm(0);
  const woke = seen.next();
  await engine.close();
  t.equal(await woke, false, 'woken by the close, with nothing new');
});
