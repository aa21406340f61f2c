/**
 * A read costs what it returns: reading a few events reads about their bytes from disk (the
 * index gives where they end), not the megabytes its byte limit would allow. A read that ends
 * inside a batch also checks the rest of that batch (docs/storage-format.md, "Batches"): about
 * its bytes more, never more than the batch (a batch holds at most 1000 events).
 */
import t from 'tap';
import { recordBytes } from '../../src/storage/format/record.js';
import { CountingIO } from '../helpers/counting-io.js';
import { appendEach, openEngine, payload } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Slack for the reads that check the rest of a batch: they read ahead in steps of 64 KiB. */
const CHECK_READ_SLACK_BYTES = 64 * 1024;

t.test('reading 10 small events from a large segment reads about 10 records of log, and the rest of their batch', async (t) => {
  const io = new CountingIO();
  const engine = await openEngine(tempDir(t, 'read-cost'), { io, segmentSizeBytes: 64 << 20, fsync: 'never' });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  for (let i = 0; i < 20; i++) await engine.appendMany('s', Array.from({ length: 1000 }, (_, j) => payload(`e${i}.${j}`, 100)));
  await engine.createStream('single');
  await appendEach(engine, 'single', Array.from({ length: 2000 }, (_, j) => payload(`s${j}`, 100)));
  for (const from of [0, 1000, 1500]) {
    io.reset();
    const events = engine.read('single', from, { maxEvents: 10 });
    t.equal(events.length, 10);
    const logBytes = io.totalRead(/\.log$/);
    t.ok(logBytes <= 10 * recordBytes(100), `single events from ${from}: ${logBytes} bytes of log read for 10 events of ${recordBytes(100)} bytes`);
  }
  for (const from of [19_990, 5000, 0]) {
    io.reset();
    const events = engine.read('s', from, { maxEvents: 10 });
    t.equal(events.length, 10);
    const logBytes = io.totalRead(/\.log$/);
    const toBatchEnd = 1000 - (from % 1000);
    const bound = toBatchEnd === 10 ? 10 * recordBytes(100) : toBatchEnd * recordBytes(100) + CHECK_READ_SLACK_BYTES;
    t.ok(logBytes <= bound, `from ${from}: ${logBytes} bytes of log read for 10 events of ${recordBytes(100)} bytes in a batch of 1000 (at most ${bound})`);
  }
});
