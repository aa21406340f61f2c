/**
 * The consumer journal on its own (src/storage/consumers/consumer-journal.ts and its codec):
 * records come back in order after reopening, a torn tail is cut only after a crash, damage in
 * the middle is skipped and reported, the read-only decoder changes nothing, compaction keeps
 * every change, and a failed write makes the journal refuse changes.
 */
import fs from 'node:fs';
import t from 'tap';
import { ErrorCodes, EventBusError } from '../../src/errors.js';
import { Consumer } from '../../src/storage/consumers/consumer.js';
import { ConsumerJournal, type JournalContext } from '../../src/storage/consumers/consumer-journal.js';
import { decodeJournal, encodeConsumer, encodeDeliver, encodeMark, encodeMarks, encodeState, MAX_MARK_OFFSETS, MAX_PENDING, RecordTypes } from '../../src/storage/consumers/journal-codec.js';
import { parseConfig } from '../../src/cli/config.js';
import { replayJournal } from '../../src/storage/consumers/journal-replay.js';
import { GroupCommit } from '../../src/storage/fs/group-commit.js';
import { nodeIO, type FileIO } from '../../src/storage/fs/io.js';
import { silentLogger } from '../../src/storage/logger.js';
import { Engine } from '../../src/storage/engine.js';
import { verifyDirectory } from '../../src/storage/tools/verify.js';
import { FaultyIO } from 'eventbus/storage/testing';
import { capturingLogger } from '../helpers/logger.js';
import { flipBit } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

function context(t: { teardown(fn: () => void): void }, options: Partial<JournalContext> & { io?: FileIO } = {}): JournalContext {
  const groupCommit = new GroupCommit('always', 100, silentLogger);
  t.teardown(() => groupCommit.close());
  return { io: nodeIO, logger: silentLogger, groupCommit, ...options };
}

const CLOSED = new EventBusError(ErrorCodes.CLOSED, 'closed');

async function write(journal: ConsumerJournal, records: Buffer[]): Promise<void> {
  const done = journal.append(records);
  journal.flush(Date.now());
  await done;
}

const types = (records: { type: number }[]) => records.map((r) => r.type);

/** Journals 500 deliveries of `consumer` from `offset`, each marked processed; returns the next offset. */
async function deliverAndMark(journal: ConsumerJournal, consumer: Consumer, offset: number): Promise<number> {
  const records: Buffer[] = [];
  for (let i = 0; i < 500; i++, offset++) {
    consumer.applyDeliver(offset, 1, 99, false);
    consumer.applyMark([offset], 1);
    records.push(encodeDeliver(1, offset, 1, 99, false), encodeMark(1, 1, [offset]));
  }
  await write(journal, records);
  return offset;
}

t.test('records appended are durable and come back in order when the journal is reopened', async (t) => {
  const dir = tempDir(t, 'journal-reopen');
  const ctx = context(t);
  const { journal, records } = ConsumerJournal.open(ctx, dir, "stream 's'");
  t.same(records, [], 'no file yet: an empty journal');
  t.notOk(fs.existsSync(journal.file), 'created on first append, not at open');
  await write(journal, [encodeConsumer(1, 5, 'c')]);
  await write(journal, [encodeDeliver(1, 0, 10, 99, false), encodeMark(1, 1, [0, 1, 2])]);
  journal.close(CLOSED);
  const reopened = ConsumerJournal.open(ctx, dir, "stream 's'");
  t.teardown(() => reopened.journal.close(CLOSED));
  t.same(types(reopened.records), [RecordTypes.CONSUMER, RecordTypes.DELIVER, RecordTypes.MARK]);
  const consumer = replayJournal(reopened.records, reopened.journal.file).byId.get(1)!;
  t.equal(consumer.cursor, 10);
  t.same([...consumer.entries.keys()], [3, 4, 5, 6, 7, 8, 9], 'the marked events are acknowledged');
});

t.test('a torn last record is cut off after a crash, reported as damage after a clean stop', async (t) => {
  for (const afterCrash of [true, false]) {
    const dir = tempDir(t, `journal-torn-${afterCrash}`);
    const ctx = context(t);
    const { journal } = ConsumerJournal.open(ctx, dir, "stream 's'");
    await write(journal, [encodeConsumer(1, 5, 'c'), encodeDeliver(1, 0, 3, 99, false)]);
    journal.close(CLOSED);
    const whole = fs.statSync(journal.file).size;
    fs.appendFileSync(journal.file, encodeMark(1, 1, [0]).subarray(0, 9));
    const logger = capturingLogger();
    const reopened = ConsumerJournal.open({ ...ctx, logger, afterCrash }, dir, "stream 's'");
    reopened.journal.close(CLOSED);
    t.same(types(reopened.records), [RecordTypes.CONSUMER, RecordTypes.DELIVER], `${afterCrash ? 'crash' : 'clean'}: the whole records`);
    t.equal(fs.statSync(journal.file).size, whole, 'cut at the end of the last whole record');
    t.equal(reopened.damage.length, afterCrash ? 0 : 1, afterCrash ? 'a torn tail is not damage' : 'after a clean stop it is damage');
  }
});

t.test('a damaged record with valid ones after it is skipped and reported; the read-only decoder changes nothing', async (t) => {
  const dir = tempDir(t, 'journal-damage');
  const ctx = context(t);
  const { journal } = ConsumerJournal.open(ctx, dir, "stream 's'");
  const consumer = encodeConsumer(1, 5, 'c');
  const deliver = encodeDeliver(1, 0, 3, 99, false);
  await write(journal, [consumer, deliver, encodeMark(1, 1, [0])]);
  journal.close(CLOSED);
  flipBit(journal.file, 32 + consumer.length + 12);
  const before = fs.readFileSync(journal.file);
  const decoded = decodeJournal(before, journal.file, true);
  t.same(types(decoded.records), [RecordTypes.CONSUMER, RecordTypes.MARK]);
  t.same(decoded.damage.map((d) => d.position), [32 + consumer.length], 'the damaged record, by byte position');
  t.same(fs.readFileSync(journal.file), before, 'decoding changed nothing');
  const reopened = ConsumerJournal.open(ctx, dir, "stream 's'");
  reopened.journal.close(CLOSED);
  t.same(reopened.damage.map((d) => d.position), [32 + consumer.length], 'recovery reports the same damage');
  t.same(fs.readFileSync(journal.file), before, 'and keeps the file as it is');
});

t.test('compaction rewrites the journal as state records without losing a change', async (t) => {
  const dir = tempDir(t, 'journal-compact');
  const ctx = context(t);
  const { journal } = ConsumerJournal.open(ctx, dir, "stream 's'");
  const consumer = new Consumer(1, 'c', 5, 0);
  journal.stateProvider = () => [encodeState(consumer)];
  await write(journal, [encodeConsumer(1, 5, 'c')]);
  let offset = 0;
  let largest = 0;
  // Past 1 MiB the journal is compacted in the flush that crosses it.
  for (let round = 0; round < 100 && journal.bytes >= largest; round++) {
    largest = journal.bytes;
    offset = await deliverAndMark(journal, consumer, offset);
  }
  t.ok(largest > 1024 * 1024 - 64 * 1024, `it grew to about 1 MiB first (${largest} bytes)`);
  consumer.applyDeliver(offset, 2, 99, false);
  await write(journal, [encodeDeliver(1, offset, 2, 99, false)]);
  await journal.idle();
  t.ok(journal.bytes < 4096, `compacted to ${journal.bytes} bytes`);
  t.notOk(fs.existsSync(`${journal.file}.compact`), 'the compacted file was renamed into place');
  journal.close(CLOSED);
  const reopened = ConsumerJournal.open(ctx, dir, "stream 's'");
  reopened.journal.close(CLOSED);
  const replayed = replayJournal(reopened.records, reopened.journal.file).byId.get(1)!;
  t.equal(replayed.cursor, offset + 2, 'the cursor survives');
  t.same([...replayed.entries.keys()], [offset, offset + 1], 'and exactly the outstanding events');
});

t.test('a reopen does not raise the compaction threshold: a journal reopened at 900 KiB compacts past 1 MiB, not past 3.6 MiB', async (t) => {
  const dir = tempDir(t, 'journal-compact-reopen');
  const ctx = context(t);
  let { journal } = ConsumerJournal.open(ctx, dir, "stream 's'");
  const consumer = new Consumer(1, 'c', 5, 0);
  journal.stateProvider = () => [encodeState(consumer)];
  await write(journal, [encodeConsumer(1, 5, 'c')]);
  let offset = 0;
  const grow = async () => {
    offset = await deliverAndMark(journal, consumer, offset);
  };
  while (journal.bytes < 900 * 1024) await grow();
  journal.close(CLOSED);
  // Reopened (a restart): its state is one consumer with nothing outstanding, a few bytes.
  journal = ConsumerJournal.open(ctx, dir, "stream 's'").journal;
  t.teardown(() => journal.close(CLOSED));
  journal.stateProvider = () => [encodeState(consumer)];
  let largest = journal.bytes;
  for (let round = 0; round < 200 && journal.bytes >= largest; round++) {
    largest = journal.bytes;
    await grow();
  }
  await journal.idle();
  t.ok(journal.bytes < 4096, `compacted (to ${journal.bytes} bytes), at ${largest} bytes`);
  t.ok(largest < 1.2 * 1024 * 1024, `once past 1 MiB, not 4 times its size at the reopen (${largest} bytes)`);
});

t.test('a failed fsync is never acknowledged; the journal then refuses changes with a reason naming the stream', async (t) => {
  const dir = tempDir(t, 'journal-fail');
  const io = new FaultyIO();
  const ctx = context(t, { io });
  const { journal } = ConsumerJournal.open(ctx, dir, "stream 'orders'");
  t.teardown(() => journal.close(CLOSED));
  await write(journal, [encodeConsumer(1, 5, 'c')]);
  io.inject({ op: 'datasync', errno: 'EIO', path: /consumers$/ });
  await t.rejects(write(journal, [encodeDeliver(1, 0, 1, 99, false)]), { code: 'IO_ERROR' });
  t.throws(() => journal.checkUsable(), { code: 'STREAM_FAILED', message: /consumer state of stream 'orders' refuses changes until reopened/ });
  await t.rejects(journal.append([encodeMark(1, 1, [0])]), { code: 'STREAM_FAILED' });
});

t.test('a mark of more offsets than one journal record may hold is journaled readable: kept across a reopen, no damage', async (t) => {
  const dataDir = tempDir(t, 'journal-big-mark');
  // No compaction (its file cannot be created), so the journal keeps the mark's own records.
  const io = new FaultyIO();
  io.inject({ op: 'open', errno: 'EIO', path: /consumers\.compact$/, persistent: true });
  const engine = await Engine.open({ dataDir, io, retentionIntervalMs: 0 });
  await engine.createStream('s');
  await engine.appendMany('s', [Buffer.from('a'), Buffer.from('b')]);
  t.equal((await engine.consume('s', 'c', { maxEvents: 2 })).events.length, 2);
  // Repeats are allowed; 8 bytes an offset, this is more than the 64 MiB a record's body may be.
  const offsets = new Array<number>(8 * 1024 * 1024).fill(0);
  offsets.push(1);
  await engine.mark('s', 'c', offsets, 1);
  await engine.close();

  const report = verifyDirectory(nodeIO, dataDir);
  t.same(report.problems, [], 'the store verifies');
  const reopened = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  t.teardown(() => reopened.close());
  t.equal(reopened.recovery.totals.damage, 0, 'recovery finds no damage');
  t.same(reopened.eventStatuses('s', 'c', [0, 1]).map((s) => s.status), [1, 1], 'both events stay acknowledged');
});

t.test('a long mark is split into records of at most MAX_MARK_OFFSETS offsets that replay as the one mark', async (t) => {
  const offsets = Array.from({ length: MAX_MARK_OFFSETS + 2 }, (_, i) => i % 7);
  const records = encodeMarks(3, 1, offsets);
  t.equal(records.length, 2);
  const decoded = decodeJournal(Buffer.concat([Buffer.alloc(32), ...records]), 'j', false).records;
  t.same(decoded.map((r) => r.type), [RecordTypes.MARK, RecordTypes.MARK]);
  // Compared element by element: t.same's deep diff of millions of numbers takes minutes.
  const replayed = decoded.flatMap((r) => (r.type === RecordTypes.MARK ? r.offsets : []));
  t.equal(replayed.length, offsets.length, 'every offset');
  t.equal(replayed.findIndex((offset, i) => offset !== offsets[i]), -1, 'in order');
  t.same(encodeMarks(3, 1, [5]), [encodeMark(3, 1, [5])], 'a usual mark is one record, as before');
});

t.test('maxPending is at most what a STATE record holds: the longest name and MAX_PENDING entries fit', async (t) => {
  // The body of the STATE record of a consumer with the longest name and `entries` entries.
  const stateBody = (entries: number) => {
    const consumer = new Consumer(1, 'n'.repeat(255), 5, 0);
    if (entries > 0) consumer.applyDeliver(0, entries, 99, false);
    return encodeState(consumer).length - 8;
  };
  const base = stateBody(0);
  const perEntry = stateBody(2) - stateBody(1);
  t.ok(base + MAX_PENDING * perEntry <= 64 * 1024 * 1024, 'a STATE record of MAX_PENDING entries is within the 64 MiB a body may be');
  t.ok(base + (MAX_PENDING + 1) * perEntry > 64 * 1024 * 1024, 'and one entry more is not');
  const dataDir = tempDir(t, 'journal-max-pending');
  await t.rejects(Engine.open({ dataDir, retentionIntervalMs: 0, consumers: { maxPending: MAX_PENDING + 1 } }), { code: 'INVALID_FIELD', reason: /consumers\.maxPending/ });
  await (await Engine.open({ dataDir, retentionIntervalMs: 0, consumers: { maxPending: MAX_PENDING } })).close();
  t.throws(() => parseConfig(`consumers:\n  max_pending: ${MAX_PENDING + 1}\n`, 'c.yaml'), { code: 'INVALID_FIELD', message: /'consumers\.max_pending' must be/ });
  t.doesNotThrow(() => parseConfig(`consumers:\n  max_pending: ${MAX_PENDING}\n`, 'c.yaml'));
});
