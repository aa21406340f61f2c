/**
 * A segment on its own (src/storage/log/segment.ts and its recovery), without a stream or an
 * engine: appends and reads, the seal and what it proves, reopening sealed and active segments,
 * a torn tail cut at a record boundary, self-repairing reads, and the invariants it asserts.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { FILE_HEADER_BYTES } from '../../src/storage/format/file-header.js';
import { encodeIndexEntry, INDEX_ENTRY_BYTES, indexEntryPosition, sealedIndexBytes } from '../../src/storage/format/offset-index.js';
import { encodeRecord, recordBytes } from '../../src/storage/format/record.js';
import { crc32c } from '../../src/storage/format/crc.js';
import { nodeIO } from '../../src/storage/fs/io.js';
import { OpenFiles } from '../../src/storage/fs/open-files.js';
import { Segment, type SegmentContext } from '../../src/storage/log/segment.js';
import { openLast, openSealed } from '../../src/storage/log/segment-recovery.js';
import { segmentPaths } from '../../src/storage/log/segment-files.js';
import { capturingLogger } from '../helpers/logger.js';
import { flipBit, payload } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

function context(options: Partial<SegmentContext> = {}): SegmentContext & { logger: ReturnType<typeof capturingLogger> } {
  return { io: nodeIO, logger: capturingLogger(), openFiles: new OpenFiles(8), preallocateStepBytes: 4096, ...options } as SegmentContext & { logger: ReturnType<typeof capturingLogger> };
}

/** Encodes `payloads` as records from `firstOffset` at log position `at` and appends them. */
function appendAll(segment: Segment, firstOffset: number, payloads: Buffer[], timestampMs = 1_700_000_000_000): void {
  const size = payloads.reduce((sum, p) => sum + recordBytes(p.length), 0);
  const log = Buffer.alloc(size);
  const index = Buffer.alloc(payloads.length * INDEX_ENTRY_BYTES);
  let at = 0;
  payloads.forEach((p, i) => {
    encodeIndexEntry(index, i * INDEX_ENTRY_BYTES, firstOffset + i - segment.baseOffset, segment.size + at);
    encodeRecord(log, at, firstOffset + i, timestampMs, p);
    at += recordBytes(p.length);
  });
  segment.append(firstOffset, log, index, payloads.length, timestampMs);
}

function readAll(segment: Segment, from = segment.baseOffset): string[] {
  const out: { offset: number; payload: Buffer }[] = [];
  segment.read(from, segment.nextOffset, 1000, 1 << 30, out as never);
  return out.map((e) => e.payload.toString());
}

const payloads = (n: number, label = 'e') => Array.from({ length: n }, (_, i) => payload(`${label}${i}`, 40 + (i % 7) * 13));

t.test('appended records are read back at their offsets; the log is preallocated ahead of them', async (t) => {
  const dir = tempDir(t, 'segment-append');
  const ctx = context();
  const segment = Segment.create(ctx, dir, 100, Date.now());
  t.teardown(() => segment.closeFiles());
  const written = payloads(20);
  appendAll(segment, 100, written.slice(0, 5));
  appendAll(segment, 105, written.slice(5));
  t.equal(segment.nextOffset, 120);
  t.same(readAll(segment), written.map(String));
  t.same(readAll(segment, 117), written.slice(17).map(String), 'a read from the middle starts there');
  t.equal(fs.statSync(segment.paths.log).size, 4096, 'the log file is one preallocation step long');
  t.equal(fs.statSync(segment.paths.index).size, indexEntryPosition(20), 'the index holds one entry per record');
});

t.test('offsets must be contiguous: an append at the wrong offset is a bug (INTERNAL), and changes nothing', async (t) => {
  const dir = tempDir(t, 'segment-contiguous');
  const segment = Segment.create(context(), dir, 0, Date.now());
  t.teardown(() => segment.closeFiles());
  appendAll(segment, 0, payloads(3));
  t.throws(() => appendAll(segment, 4, payloads(1)), { code: 'INTERNAL', message: /append at offset 4 to a segment whose next offset is 3/ });
  t.equal(segment.nextOffset, 3);
  t.same(readAll(segment), payloads(3).map(String));
});

t.test('a seal is written only once the records are durable, and proves them to the next open', async (t) => {
  const dir = tempDir(t, 'segment-seal');
  const ctx = context();
  const segment = Segment.create(ctx, dir, 0, Date.now());
  const written = payloads(12);
  appendAll(segment, 0, written);
  segment.freeze();
  t.throws(() => appendAll(segment, 12, payloads(1)), { code: 'INTERNAL' }, 'a frozen segment takes no appends');
  t.ok(segment.pendingSeal !== null && segment.seal === null, 'frozen: the seal is computed, not written');
  t.same(readAll(segment), written.map(String), 'a frozen segment is still read');
  await segment.finishSeal(() => false);
  t.ok(segment.seal !== null, 'sealed');
  const logBytes = fs.statSync(segment.paths.log).size;
  t.equal(logBytes, segment.size, 'the preallocated end was cut off');
  t.equal(fs.statSync(segment.paths.index).size, sealedIndexBytes(12), 'the index ends with the seal trailer');
  t.equal(segment.seal!.logCrc, crc32c(fs.readFileSync(segment.paths.log)), 'the seal records the CRC of the whole log');

  const logger = capturingLogger();
  const reopened = openSealed(context({ logger }), dir, 0, 12);
  t.same(reopened.seal, segment.seal, 'reopened from headers and the trailer');
  t.same(logger.records, [], 'without a rebuild or any other finding');
  t.same(readAll(reopened), written.map(String));
  reopened.closeFiles();
});

t.test('writing a seal before its records are durable is a bug (INTERNAL)', async (t) => {
  const dir = tempDir(t, 'segment-seal-early');
  const segment = Segment.create(context(), dir, 0, Date.now());
  t.teardown(() => segment.closeFiles());
  appendAll(segment, 0, payloads(3));
  segment.freeze();
  // writeSeal is private; finishSeal always syncs first. Call it out of order to prove the check.
  t.throws(() => (segment as unknown as { writeSeal(): void }).writeSeal(), { code: 'INTERNAL', message: /before the records it seals are durable/ });
  t.equal(segment.seal, null, 'nothing was sealed');
});

t.test('a sealed segment whose index fails is rebuilt from its log at open, into a new file', async (t) => {
  const dir = tempDir(t, 'segment-rebuild');
  const segment = Segment.create(context(), dir, 0, Date.now());
  appendAll(segment, 0, payloads(8));
  segment.freeze();
  await segment.finishSeal(() => false);
  const inodeBefore = fs.statSync(segment.paths.index).ino;
  flipBit(segment.paths.index, indexEntryPosition(3) + 5);
  flipBit(segment.paths.index, sealedIndexBytes(8) - 3);
  const logger = capturingLogger();
  const reopened = openSealed(context({ logger }), dir, 0, 8);
  t.equal(logger.find('warn', 'index rebuilt from its segment').length, 1, 'the rebuild is logged');
  t.not(fs.statSync(segment.paths.index).ino, inodeBefore, 'a new file replaced the old (a snapshot may share its inode)');
  t.same(readAll(reopened), payloads(8).map(String));
  reopened.closeFiles();
});

t.test('recovery cuts a torn tail at the end of the last whole record, and only after a crash', async (t) => {
  const dir = tempDir(t, 'segment-torn');
  const segment = Segment.create(context(), dir, 0, Date.now());
  appendAll(segment, 0, payloads(6));
  const end = segment.size;
  segment.closeFiles();
  // Half a record after the last whole one: what a crash mid-write leaves.
  const half = Buffer.alloc(recordBytes(50));
  encodeRecord(half, 0, 6, Date.now(), payload('torn', 50));
  const fd = fs.openSync(segment.paths.log, 'r+');
  fs.writeSync(fd, half.subarray(0, 30), 0, 30, end);
  fs.closeSync(fd);

  const logger = capturingLogger();
  const recovered = openLast(context({ logger, afterCrash: true }), segmentPaths(dir, 0), Date.now());
  t.equal(recovered.nextOffset, 6, 'the torn record is gone');
  t.equal(recovered.size, end, 'the log ends where the last whole record ends');
  const cut = logger.find('warn', 'truncated the torn tail');
  t.equal(cut.length, 1);
  t.equal(cut[0]!.fields.position, end, 'cut at the record boundary');
  t.same(readAll(recovered), payloads(6).map(String));
  appendAll(recovered, 6, [payload('after', 10)]);
  t.same(readAll(recovered, 6), [payload('after', 10).toString()], 'appends continue at the cut');
  recovered.closeFiles();
});

t.test('after a clean stop a failing last record is damage, kept and reported, not cut', async (t) => {
  const dir = tempDir(t, 'segment-clean-damage');
  const segment = Segment.create(context(), dir, 0, Date.now());
  appendAll(segment, 0, payloads(4));
  const last = segment.size - recordBytes(payloads(4)[3]!.length);
  segment.trimPreallocation();
  segment.closeFiles();
  flipBit(segment.paths.log, last + 30);
  const recovered = openLast(context({ afterCrash: false }), segmentPaths(dir, 0), Date.now());
  t.equal(recovered.nextOffset, 4, 'the damaged record keeps its offset');
  t.same(recovered.damage.all.map((d) => [d.firstOffset, d.lastOffset, d.position]), [[3, 3, last]]);
  t.throws(() => readAll(recovered, 3), { code: 'CORRUPT_DATA', message: new RegExp(`at byte ${last}`) });
  recovered.closeFiles();
});

t.test('a read through an index entry that fails its check rebuilds the index once and returns the right event', async (t) => {
  const dir = tempDir(t, 'segment-read-repair');
  const ctx = context();
  const segment = Segment.create(ctx, dir, 0, Date.now());
  t.teardown(() => segment.closeFiles());
  appendAll(segment, 0, payloads(10));
  // Point entry 4 at record 2 with a valid entry CRC: a stale entry, caught by the record's own offset.
  const stale = Buffer.alloc(INDEX_ENTRY_BYTES);
  const positions: number[] = [];
  let at = FILE_HEADER_BYTES;
  for (const p of payloads(10)) {
    positions.push(at);
    at += recordBytes(p.length);
  }
  encodeIndexEntry(stale, 0, 4, positions[2]!);
  const fd = fs.openSync(segment.paths.index, 'r+');
  fs.writeSync(fd, stale, 0, INDEX_ENTRY_BYTES, indexEntryPosition(4));
  fs.closeSync(fd);
  t.same(readAll(segment, 4).slice(0, 1), [payloads(10)[4]!.toString()]);
  t.equal(ctx.logger.find('warn', 'index rebuilt from its segment').length, 1);
  t.same(segment.damage.all, [], 'a stale entry is not damage');
});

t.test('a snapshot links a sealed segment with known CRCs and copies the one holding its point in time', async (t) => {
  const dir = tempDir(t, 'segment-capture');
  const sealed = Segment.create(context(), dir, 0, Date.now());
  appendAll(sealed, 0, payloads(5));
  sealed.freeze();
  await sealed.finishSeal(() => false);
  const captured = sealed.capture(5);
  t.equal(captured.last, false);
  t.same(captured.files.map((f) => f.kind), ['link', 'link']);
  for (const file of captured.files) {
    if (file.kind !== 'link') continue;
    t.equal(file.crc, crc32c(fs.readFileSync(file.path)), `${path.basename(file.path)}: the CRC of the file as it is`);
    t.equal(file.durable, true, 'its seal is durable');
  }
  const active = Segment.create(context(), dir, 5, Date.now());
  t.teardown(() => active.closeFiles());
  appendAll(active, 5, payloads(4));
  const partial = active.capture(7);
  t.equal(partial.last, true);
  t.same(partial.files.map((f) => (f.kind === 'copy' ? f.length : -1)), [FILE_HEADER_BYTES + recordBytes(payloads(4)[0]!.length) + recordBytes(payloads(4)[1]!.length), indexEntryPosition(2)], 'copied up to offset 7');
});
