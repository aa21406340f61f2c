/**
 * Opening a store does not read the records of sealed segments (so start-up time does not grow
 * with the data): only their headers and seal trailers. Of the active segment, only what may be
 * torn is read. Measured by counting the bytes read from each file.
 */
import fs from 'node:fs';
import t from 'tap';
import { FILE_HEADER_BYTES } from '../../src/storage/format/file-header.js';
import { SEAL_TRAILER_BYTES } from '../../src/storage/format/offset-index.js';
import { RECORD_HEADER_BYTES } from '../../src/storage/format/record.js';
import { CountingIO } from '../helpers/counting-io.js';
import { openEngine, payload, segmentFiles, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const SEGMENT_BYTES = 64 * 1024;

async function store(t: TapTest) {
  const dataDir = tempDir(t, 'open-cost');
  const engine = await openEngine(dataDir, { segmentSizeBytes: SEGMENT_BYTES, fsync: 'never' });
  await engine.createStream('s');
  for (let batch = 0; batch < 20; batch++) {
    await engine.appendMany('s', Array.from({ length: 500 }, (_, i) => payload(`e${batch}.${i}`, 150)));
  }
  const dir = streamDir(engine, 's');
  await engine.close();
  const segments = segmentFiles(dir);
  const totalBytes = segments.reduce((sum, s) => sum + fs.statSync(s.log).size, 0);
  return { dataDir, segments, totalBytes };
}

/**
 * Sealed segment files read beyond a few headers and trailers: open may check a header more than
 * once, but must read no record (each segment here holds about 400 records, 64 KiB).
 */
const SEALED_READ_LIMIT_BYTES = 4 * (FILE_HEADER_BYTES + SEAL_TRAILER_BYTES);

function sealedReads(io: CountingIO, segments: { base: number; log: string; index: string }[]): string[] {
  const over: string[] = [];
  for (const s of segments.slice(0, -1)) {
    for (const file of [s.log, s.index]) {
      const bytes = io.readBytes.get(file) ?? 0;
      if (bytes > SEALED_READ_LIMIT_BYTES) over.push(`${file}: ${bytes} bytes`);
    }
  }
  return over;
}

/** Opens through a CountingIO and returns the bytes read per file. */
async function openCounting(dataDir: string): Promise<CountingIO> {
  const io = new CountingIO();
  const engine = await openEngine(dataDir, { segmentSizeBytes: SEGMENT_BYTES, io });
  await engine.close();
  return io;
}

t.test('after a clean close, open reads only headers and trailers of sealed segments', async (t) => {
  const { dataDir, segments, totalBytes } = await store(t);
  t.ok(segments.length >= 10, `${segments.length} segments, ${totalBytes} bytes of logs`);
  const io = await openCounting(dataDir);
  t.same(sealedReads(io, segments), [], 'of sealed segments, only headers and trailers are read');
  const active = segments.at(-1)!;
  const activeRead = io.readBytes.get(active.log) ?? 0;
  t.ok(activeRead <= FILE_HEADER_BYTES + 2 * (RECORD_HEADER_BYTES + 150), `the active segment: ${activeRead} bytes read (its header and last record)`);
  const total = io.totalRead(/\.(log|index)$/);
  t.ok(total < totalBytes / 100, `${total} bytes read in all, of ${totalBytes}`);
});

t.test('after an unclean stop that lost the active index, open scans the active segment only', async (t) => {
  const { dataDir, segments } = await store(t);
  const active = segments.at(-1)!;
  fs.rmSync(active.index);
  const io = await openCounting(dataDir);
  t.ok((io.readBytes.get(active.log) ?? 0) >= fs.statSync(active.log).size - FILE_HEADER_BYTES, 'the active log was scanned');
  t.same(sealedReads(io, segments), [], 'sealed segments were not read');
});
