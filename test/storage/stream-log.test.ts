/**
 * A stream's log on its own (src/storage/log/stream-log.ts), with a real group commit and no
 * engine: offsets assigned at append, visibility only once durable, one write per flush, rolls
 * into sealed segments, reopening, refusal after a failed write, retention and snapshot capture.
 */
import path from 'node:path';
import t from 'tap';
import { ErrorCodes, EventBusError } from '../../src/errors.js';
import { GroupCommit, type FsyncPolicy } from '../../src/storage/fs/group-commit.js';
import { nodeIO, type FileIO } from '../../src/storage/fs/io.js';
import { OpenFiles } from '../../src/storage/fs/open-files.js';
import { StreamLog, type LogContext } from '../../src/storage/log/stream-log.js';
import { WriteScratch } from '../../src/storage/log/write-scratch.js';
import { silentLogger } from '../../src/storage/logger.js';
import { CountingIO } from '../helpers/counting-io.js';
import { FaultyIO } from 'eventbus/storage/testing';
import { payload } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Harness {
  ctx: LogContext;
  visible: number[];
  groupCommit: GroupCommit;
}

function harness(t: { teardown(fn: () => void): void }, options: { io?: FileIO; fsync?: FsyncPolicy; segmentSizeBytes?: number } = {}): Harness {
  const groupCommit = new GroupCommit(options.fsync ?? 'always', 100, silentLogger);
  t.teardown(() => groupCommit.close());
  const visible: number[] = [];
  const ctx: LogContext = {
    io: options.io ?? nodeIO,
    logger: silentLogger,
    openFiles: new OpenFiles(4),
    groupCommit,
    segmentSizeBytes: options.segmentSizeBytes ?? 64 * 1024,
    scratch: new WriteScratch(),
    preallocateStepBytes: 4096,
    onVisible: (log) => visible.push(log.visibleOffset),
  };
  return { ctx, visible, groupCommit };
}

async function createLog(t: { teardown(fn: () => void): void }, h: Harness, label: string): Promise<StreamLog> {
  const dir = path.join(tempDir(t, label), 'stream');
  const { log, targets } = StreamLog.create(h.ctx, dir, Date.now());
  await Promise.all(targets.map((target) => target.sync()));
  return log;
}

/** Appends `payloads` one append each, flushes once, and waits for all of them. */
async function appendAndFlush(log: StreamLog, payloads: Buffer[]): Promise<number[]> {
  const appends = payloads.map((p) => log.append([p], Date.now()));
  log.flush(Date.now());
  return (await Promise.all(appends)).map((events) => events[0]!.offset);
}

const texts = (log: StreamLog, from = 0) => log.read(from, 10_000, 1 << 30).map((e) => e.payload.toString());

t.test('offsets are assigned in append order; events become readable only once durable', async (t) => {
  const h = harness(t);
  const log = await createLog(t, h, 'log-visible');
  t.teardown(() => log.close());
  const first = log.append([payload('a', 20), payload('b', 20)], Date.now());
  const second = log.append([payload('c', 20)], Date.now());
  t.same(texts(log), [], 'nothing is visible before the flush');
  log.flush(Date.now());
  t.same(texts(log), [], 'written, not yet durable: still not visible');
  t.same((await first).map((e) => e.offset), [0, 1]);
  t.same((await second).map((e) => e.offset), [2]);
  t.equal(log.visibleOffset, 3);
  t.same(h.visible, [3], 'one wake-up for the whole durable batch');
  t.same(texts(log), ['a', 'b', 'c'].map((l) => payload(l, 20).toString()));
});

t.test('one flush is one write to the log and one to the index, however many appends', async (t) => {
  const io = new CountingIO();
  const h = harness(t, { io });
  const log = await createLog(t, h, 'log-one-write');
  t.teardown(() => log.close());
  io.reset();
  await appendAndFlush(log, Array.from({ length: 50 }, (_, i) => payload(`x${i}`, 30)));
  t.equal(io.calls.get('writev'), 2, 'two writes for 50 appends');
  t.equal(h.groupCommit.stats.rounds > 0, true);
});

t.test('a full segment rolls; the sealed one is reopened from its seal and every event reads back', async (t) => {
  const h = harness(t, { segmentSizeBytes: 2048 });
  const log = await createLog(t, h, 'log-roll');
  const written = Array.from({ length: 60 }, (_, i) => payload(`r${i}`, 100));
  const offsets = await appendAndFlush(log, written);
  t.same(offsets, written.map((_, i) => i));
  await log.sealsSettled();
  t.ok(log.stats().segmentCount > 3, `rolled into ${log.stats().segmentCount} segments`);
  t.same(texts(log), written.map(String));
  const dir = log.dir;
  await log.idle();
  log.close(true);

  const reopened = StreamLog.open(h.ctx, dir, Date.now());
  t.teardown(() => reopened.close());
  t.same(texts(reopened), written.map(String), 'the same events after reopening');
  t.same(reopened.damage(), []);
  t.same(await appendAndFlush(reopened, [payload('next', 10)]), [60], 'appends continue after the last offset');
});

t.test('a failed write is never acknowledged, and the log refuses appends until reopened; reads go on', async (t) => {
  const io = new FaultyIO();
  const h = harness(t, { io });
  const log = await createLog(t, h, 'log-fail');
  t.teardown(() => log.close());
  await appendAndFlush(log, [payload('ok', 10)]);
  io.inject({ op: 'writev', errno: 'ENOSPC', path: /\.log$/ });
  const failed = log.append([payload('lost', 10)], Date.now());
  log.flush(Date.now());
  await t.rejects(failed, { code: 'DISK_FULL' });
  await t.rejects(log.append([payload('later', 10)], Date.now()), { code: 'DISK_FULL', message: /stream refuses appends until reopened/ });
  t.same(texts(log), [payload('ok', 10).toString()], 'the acknowledged event still reads; the failed one never shows');
  t.equal(log.failure?.code, 'DISK_FULL');
});

t.test('a failed fsync fails its batch with IO_ERROR; later appends get STREAM_FAILED', async (t) => {
  const io = new FaultyIO();
  const h = harness(t, { io });
  const log = await createLog(t, h, 'log-fsync-fail');
  t.teardown(() => log.close());
  // A lone append is fsynced on the main thread (group-commit.ts): both forms fail.
  io.inject({ op: ['datasync', 'datasyncNow'], errno: 'EIO', path: /\.log$/ });
  const failed = log.append([payload('unsynced', 10)], Date.now());
  log.flush(Date.now());
  await t.rejects(failed, { code: 'IO_ERROR', message: /fsync .* failed \(EIO\)/ });
  await t.rejects(log.append([payload('later', 10)], Date.now()), { code: 'STREAM_FAILED' });
  t.equal(log.visibleOffset, 0, 'nothing became visible');
});

t.test('closing rejects queued appends with the reason given', async (t) => {
  const h = harness(t);
  const log = await createLog(t, h, 'log-close');
  const queued = log.append([payload('q', 10)], Date.now());
  log.close(false, new EventBusError(ErrorCodes.STREAM_NOT_FOUND, "stream 'x' not found"));
  await t.rejects(queued, { code: 'STREAM_NOT_FOUND' });
  await t.rejects(log.append([payload('after', 10)], Date.now()), { code: 'STREAM_NOT_FOUND' });
});

t.test('retention removes whole sealed segments from the front, never the active one', async (t) => {
  const h = harness(t, { segmentSizeBytes: 1024 });
  const log = await createLog(t, h, 'log-retention');
  t.teardown(() => log.close());
  await appendAndFlush(log, Array.from({ length: 40 }, (_, i) => payload(`k${i}`, 100)));
  await log.sealsSettled();
  const segments = log.stats().segmentCount;
  const removed = log.applyRetention({ maxAgeMs: 0, maxBytes: 0, maxEvents: 10 }, Date.now());
  t.ok(removed > 0 && removed < segments, `${removed} of ${segments} segments removed`);
  const first = log.firstOffset;
  t.ok(40 - first >= 10 && 40 - first <= 10 + 8, `the newest ten events are kept, with at most a segment more (${40 - first})`);
  t.same(texts(log).length, 40 - first, 'what remains reads from the new first offset');
  t.equal(log.applyRetention({ maxAgeMs: 1, maxBytes: 1, maxEvents: 1 }, Date.now() + 10_000) + 1 + removed, segments, 'all but the active segment can go');
  t.equal(log.stats().segmentCount, 1);
});

t.test('a snapshot captures the files up to the visible offset, linking sealed segments', async (t) => {
  const h = harness(t, { segmentSizeBytes: 1024 });
  const log = await createLog(t, h, 'log-capture');
  t.teardown(() => log.close());
  await appendAndFlush(log, Array.from({ length: 25 }, (_, i) => payload(`s${i}`, 100)));
  await log.sealsSettled();
  const files = log.captureFiles(log.visibleOffset);
  const links = files.filter((f) => f.kind === 'link');
  const copies = files.filter((f) => f.kind === 'copy');
  t.equal(links.length, 2 * (log.stats().segmentCount - 1), 'both files of every sealed segment are linked');
  t.equal(copies.length, 2, 'the active segment is copied');
});
