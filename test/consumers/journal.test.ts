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
import { decodeJournal, encodeConsumer, encodeDeliver, encodeMark, encodeState, RecordTypes } from '../../src/storage/consumers/journal-codec.js';
import { replayJournal } from '../../src/storage/consumers/journal-replay.js';
import { GroupCommit } from '../../src/storage/fs/group-commit.js';
import { nodeIO, type FileIO } from '../../src/storage/fs/io.js';
import { silentLogger } from '../../src/storage/logger.js';
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
    const records: Buffer[] = [];
    for (let i = 0; i < 500; i++, offset++) {
      consumer.applyDeliver(offset, 1, 99, false);
      consumer.applyMark([offset], 1);
      records.push(encodeDeliver(1, offset, 1, 99, false), encodeMark(1, 1, [offset]));
    }
    await write(journal, records);
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
