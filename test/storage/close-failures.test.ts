/**
 * Engine.close() after a write or fsync failure that no call was told of: a round of the
 * `interval` timer, close's own final fsync, a consumer journal's. Such a failure means that
 * something acknowledged may not be on disk, so close must not resolve: it rejects with the
 * failure's code (IO_ERROR, DISK_FULL for ENOSPC), the first one when there were several, after
 * still closing every file and letting go of the store (the LOCK stays on disk: the next open
 * recovers as after a crash). A failure that was told to the calls it concerned (`always`: the
 * appends waiting on the failed fsync were rejected) does not make close reject.
 */
import t from 'tap';
import type { Engine } from '../../src/storage/engine.js';
import type { FsyncPolicy } from '../../src/storage/fs/group-commit.js';
import { FaultyIO, type FaultSpec } from 'eventbus/storage/testing';
import { CountingIO } from '../helpers/counting-io.js';
import { openEngine, payload, readAll, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const LOG_FSYNC: FaultSpec = { op: 'datasync', errno: 'EIO', path: /\.log$/ };

/** A store through FaultyIO over a CountingIO (descriptors opened and closed are counted). */
async function open(t: TapTest, fsync: FsyncPolicy, fsyncIntervalMs = 10) {
  const dataDir = tempDir(t, `close-${fsync}`);
  const counting = new CountingIO();
  const io = new FaultyIO(counting);
  const engine = await openEngine(dataDir, { io, fsync, fsyncIntervalMs });
  t.teardown(() => engine.close().catch(() => {}));
  return { dataDir, counting, io, engine };
}

/**
 * Appends `count` events in one turn; returns how many were acknowledged. Under `interval` a
 * stream refuses appends once a timer's fsync has failed, which may come before or after them.
 */
async function appendSome(engine: Engine, stream: string, count: number): Promise<number> {
  const outcomes = await Promise.allSettled(Array.from({ length: count }, (_, i) => engine.append(stream, payload(`${stream}${i}`, 40))));
  for (const outcome of outcomes) if (outcome.status === 'rejected') assertRefusal(outcome.reason);
  return outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
}

/** A refusal after an earlier failure is expected; anything else is not. */
function assertRefusal(error: unknown): void {
  const code = (error as { code?: string }).code;
  if (code !== 'STREAM_FAILED' && code !== 'DISK_FULL') throw error;
}

/** What close did: its rejection (null if it resolved). */
async function closeOutcome(engine: Engine): Promise<{ code?: string; reason?: string } | null> {
  return engine.close().then(() => null, (error: { code?: string; reason?: string }) => error);
}

/** After a close that rejected: no descriptor left, the store can be opened again (as after a crash). */
async function checkReleased(t: TapTest, dataDir: string, counting: CountingIO, events: number): Promise<void> {
  t.equal(counting.calls.get('open') ?? 0, counting.calls.get('close') ?? 0, 'every descriptor was closed');
  const again = await openEngine(dataDir);
  t.equal(again.recovery.afterCrash, true, 'the LOCK was kept on disk: the next open recovers as after a crash');
  t.equal(readAll(again, 's').length, events, 'and finds what was written');
  await again.close();
}

t.test('interval: a failed fsync of the timer makes close reject with IO_ERROR', async (t) => {
  const { dataDir, counting, io, engine } = await open(t, 'interval');
  await engine.createStream('s');
  let acknowledged = await appendSome(engine, 's', 5);
  const fault = io.inject(LOG_FSYNC);
  acknowledged += await appendSome(engine, 's', 5); // acknowledged at the write: the timer's round fsyncs them, and fails
  t.ok(await until(() => fault.fired === 1, 5_000), 'the timer ran the failing fsync');
  const outcome = await closeOutcome(engine);
  t.equal(outcome?.code, 'IO_ERROR', 'close rejects with IO_ERROR');
  t.match(outcome?.reason, /fsync of .*\.log failed \(EIO\)/, 'naming the fsync that failed');
  t.match(outcome?.reason, /may not be on disk/, 'and saying what it means');
  await checkReleased(t, dataDir, counting, acknowledged);
});

t.test('interval: ENOSPC from the timer\'s fsync is DISK_FULL', async (t) => {
  const { dataDir, counting, io, engine } = await open(t, 'interval');
  await engine.createStream('s');
  const fault = io.inject({ ...LOG_FSYNC, errno: 'ENOSPC' });
  const acknowledged = await appendSome(engine, 's', 3);
  t.ok(await until(() => fault.fired === 1, 5_000), 'the timer ran the failing fsync');
  t.equal((await closeOutcome(engine))?.code, 'DISK_FULL');
  await checkReleased(t, dataDir, counting, acknowledged);
});

t.test('the final fsync at close fails: close rejects, whatever the policy', async (t) => {
  for (const fsync of ['never', 'interval', 'always'] as const) {
    await t.test(fsync, async (t) => {
      // A timer that never comes: only close fsyncs (under `interval`).
      const { dataDir, counting, io, engine } = await open(t, fsync, 3_600_000);
      await engine.createStream('s');
      t.equal(await appendSome(engine, 's', 4), 4);
      const fault = io.inject({ ...LOG_FSYNC, errno: 'EIO' });
      const outcome = await closeOutcome(engine);
      t.equal(fault.fired, 1, 'close ran the failing fsync');
      t.equal(outcome?.code, 'IO_ERROR', 'close rejects with IO_ERROR');
      await checkReleased(t, dataDir, counting, 4);
    });
  }
});

t.test('appends queued when close is called, whose fsync at close fails', async (t) => {
  const { io, engine } = await open(t, 'interval', 3_600_000);
  await engine.createStream('s');
  io.inject({ op: 'datasync', errno: 'ENOSPC', path: /\.log$/, persistent: true });
  const appended = engine.append('s', payload('queued', 40)); // not flushed yet: close writes it
  const outcome = await closeOutcome(engine);
  t.same(await appended.then((e) => e.offset), 0, 'the append was acknowledged (interval: at the write)');
  t.equal(outcome?.code, 'DISK_FULL', 'so close says it may not be on disk');
});

t.test('interval: a failed write, after acknowledged ones not yet fsynced, makes close reject', async (t) => {
  const { io, engine } = await open(t, 'interval', 3_600_000);
  await engine.createStream('s');
  t.equal(await appendSome(engine, 's', 3), 3, 'acknowledged, not fsynced (the timer never comes)');
  io.inject({ op: 'writev', errno: 'ENOSPC', path: /\.log$/ });
  await t.rejects(engine.append('s', payload('full', 40)), { code: 'DISK_FULL' }, 'the append that failed is told');
  t.equal((await closeOutcome(engine))?.code, 'DISK_FULL', 'and close, for the ones acknowledged before it');
});

t.test('interval: a failed fsync of a consumer journal makes close reject', async (t) => {
  const { io, engine } = await open(t, 'interval');
  await engine.createStream('s');
  t.equal(await appendSome(engine, 's', 3), 3);
  await engine.consume('s', 'c', { maxEvents: 3 });
  const fault = io.inject({ op: 'datasync', errno: 'EIO', path: /\/consumers$/ });
  await engine.mark('s', 'c', [0, 1, 2], 1).catch(assertRefusal); // acknowledged at the write, unless the journal failed already
  t.ok(await until(() => fault.fired === 1, 5_000), 'the timer ran the failing fsync');
  const outcome = await closeOutcome(engine);
  t.equal(outcome?.code, 'IO_ERROR');
  t.match(outcome?.reason, /consumers/, 'naming the journal');
});

t.test('several failures: close reports the first', async (t) => {
  const { io, engine } = await open(t, 'interval');
  await engine.createStream('a');
  await engine.createStream('b');
  const [dirA, dirB] = [streamDir(engine, 'a'), streamDir(engine, 'b')];
  const first = io.inject({ op: 'datasync', errno: 'ENOSPC', path: new RegExp(`^${dirA}/.*\\.log$`) });
  await appendSome(engine, 'a', 2);
  t.ok(await until(() => first.fired === 1, 5_000), 'a\'s fsync failed');
  const second = io.inject({ op: 'datasync', errno: 'EIO', path: new RegExp(`^${dirB}/.*\\.log$`) });
  await appendSome(engine, 'b', 2);
  t.ok(await until(() => second.fired === 1, 5_000), 'then b\'s');
  const outcome = await closeOutcome(engine);
  t.equal(outcome?.code, 'DISK_FULL', 'the first failure\'s code');
  t.ok(outcome?.reason?.includes(dirA), 'and its file');
});

t.test('always: a failure the appends were told of does not make close reject', async (t) => {
  const { io, engine } = await open(t, 'always');
  await engine.createStream('s');
  await appendSome(engine, 's', 3);
  io.inject({ op: ['datasync', 'datasyncNow'], errno: 'EIO', path: /\.log$/ });
  await t.rejects(engine.append('s', payload('lost', 40)), { code: 'IO_ERROR' }, 'the append waiting on the fsync is rejected');
  t.equal(await closeOutcome(engine), null, 'close resolves: everything acknowledged was fsynced before it was');
});

t.test('a clean close resolves and closes every descriptor', async (t) => {
  const { dataDir, counting, engine } = await open(t, 'interval');
  await engine.createStream('s');
  await appendSome(engine, 's', 3);
  t.equal(await closeOutcome(engine), null);
  t.equal(counting.calls.get('open') ?? 0, counting.calls.get('close') ?? 0, 'every descriptor was closed');
  const again = await openEngine(dataDir);
  t.equal(again.recovery.afterCrash, false, 'the close was clean');
  await again.close();
});

t.test('close called again, or while it runs, settles as the first close: concurrent calls after an fsync failure all reject with its error', async (t) => {
  const { dataDir, counting, io, engine } = await open(t, 'interval');
  await engine.createStream('s');
  const fault = io.inject(LOG_FSYNC);
  const acknowledged = await appendSome(engine, 's', 5);
  t.ok(await until(() => fault.fired === 1, 5_000), 'the timer ran the failing fsync');
  const outcomes = await Promise.all([closeOutcome(engine), closeOutcome(engine), closeOutcome(engine)]);
  t.equal(outcomes[0]?.code, 'IO_ERROR', 'the first close rejects with IO_ERROR');
  t.equal(outcomes[1], outcomes[0], 'a concurrent close rejects with the same error');
  t.equal(outcomes[2], outcomes[0], 'and so does a third');
  t.equal(await closeOutcome(engine), outcomes[0], 'a close after it has rejected rejects with it too');
  await checkReleased(t, dataDir, counting, acknowledged);
});

t.test('a second close after a clean one resolves, and so does one called while the first runs', async (t) => {
  const { engine } = await open(t, 'interval');
  await engine.createStream('s');
  await appendSome(engine, 's', 5);
  let firstDone = false;
  const first = engine.close().then(() => (firstDone = true));
  await engine.close();
  t.equal(firstDone, true, 'the concurrent close resolved only once the first had finished');
  await first;
  await t.resolves(engine.close(), 'a close after the store closed resolves');
});
