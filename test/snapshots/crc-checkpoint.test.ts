/**
 * Sealing an active segment needs its CRC32C. After a clean close the running checksums are kept
 * (crc-checkpoint), so the first snapshot after a restart does not read every active tail whole;
 * after a crash they are not trusted, and are computed from the data.
 */
import t, { type Test } from 'tap';
import { nodeIO, verifyDirectory } from '../../src/storage/index.js';
import { CountingIO } from '../helpers/counting-io.js';
import { appendEach, openEngine, simulateCrash } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

const TAIL_EVENTS = 3000; // about 1.5 MiB: above the snapshot's copy limit, so it is sealed
const SEGMENT = 64 * 1024 * 1024;

async function storeWithBigTail(t: Test) {
  const dataDir = tempDir(t, 'crc-checkpoint');
  const engine = await openEngine(dataDir, { segmentSizeBytes: SEGMENT });
  await engine.createStream('s');
  await appendEach(engine, 's', Array.from({ length: TAIL_EVENTS }, (_, i) => Buffer.from(JSON.stringify({ i, pad: 'c'.repeat(480) }))));
  await engine.close();
  return dataDir;
}

for (const [what, crash, expectRead] of [['a clean close', false, false], ['a crash', true, true]] as const) {
  t.test(`after ${what}, the first snapshot ${expectRead ? 'reads the active tail to learn its checksum' : 'does not read the active tail'}`, async (t) => {
    const dataDir = await storeWithBigTail(t);
    if (crash) simulateCrash(dataDir);
    const io = new CountingIO();
    const engine = await openEngine(dataDir, { segmentSizeBytes: SEGMENT, io });
    t.teardown(() => engine.close());
    io.reset();
    const snapshot = await engine.snapshot(tempDir(t, 'crc-checkpoint-out'));
    const read = io.totalRead(/\.log$/);
    if (expectRead) t.ok(read >= TAIL_EVENTS * 500, `${read} bytes of the log read`);
    else t.ok(read < 64 * 1024, `${read} bytes of the log read`);
    t.same(verifyDirectory(nodeIO, snapshot.path).problems, [], 'and the snapshot verifies (the checksums are right)');
  });
}
