/**
 * A read costs what it returns: reading a few events reads about their bytes from disk (the
 * index gives where they end), not the megabytes its byte limit would allow.
 */
import t from 'tap';
import { recordBytes } from '../../src/storage/format/record.js';
import { CountingIO } from '../helpers/counting-io.js';
import { openEngine, payload } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('reading 10 small events from a large segment reads about 10 records of log', async (t) => {
  const io = new CountingIO();
  const engine = await openEngine(tempDir(t, 'read-cost'), { io, segmentSizeBytes: 64 << 20, fsync: 'never' });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  for (let i = 0; i < 20; i++) await engine.appendMany('s', Array.from({ length: 1000 }, (_, j) => payload(`e${i}.${j}`, 100)));
  for (const from of [0, 5000, 19_990]) {
    io.reset();
    const events = engine.read('s', from, { maxEvents: 10 });
    t.equal(events.length, 10);
    const logBytes = io.totalRead(/\.log$/);
    t.ok(logBytes <= 10 * recordBytes(100), `from ${from}: ${logBytes} bytes of log read for 10 events of ${recordBytes(100)} bytes`);
  }
});
