/**
 * A batch torn by a power loss whose pages reached the disk out of order: a page in its middle
 * never written (zeros, the preallocated space), the pages after it written. Its fsync never
 * finished, so it was never acknowledged, and it must vanish whole (docs/storage-format.md,
 * "Batches"): none of its records readable, its offsets given again to the next append. After a
 * clean stop the same zeros are damage to acknowledged events: kept and reported, never cut.
 */
import fs from 'node:fs';
import t from 'tap';
import { isEventBusError } from '../../src/errors.js';
import { nodeIO, verifyDirectory } from '../../src/storage/index.js';
import { capturingLogger } from '../helpers/logger.js';
import { openEngine, payload, recordPositions, segmentFiles, simulateCrash, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const OPTIONS = { segmentSizeBytes: 1 << 20 };
const SECTOR_BYTES = 512;

/**
 * Stream `s`: event 0 alone, then a batch of three events of 5,000 bytes (offsets 1 to 3), closed
 * cleanly; then `zeroBytes` bytes of zeros from the first 512-byte boundary inside record 2 (a
 * sector or page of the batch's write that never reached the disk).
 */
async function holedStore(t: TapTest, zeroBytes: number, indexEntries?: number): Promise<string> {
  const dataDir = tempDir(t, 'torn-hole');
  const engine = await openEngine(dataDir, OPTIONS);
  await engine.createStream('s');
  await engine.appendEvents('s', [{ payload: payload('e0', 50) }]);
  await engine.appendEvents('s', [1, 2, 3].map((i) => ({ payload: payload(`e${i}`, 5000) })));
  const { log, index } = segmentFiles(streamDir(engine, 's'))[0]!;
  await engine.close();
  const record = recordPositions(log)[2]!;
  const from = Math.ceil((record.position + 1) / SECTOR_BYTES) * SECTOR_BYTES;
  t.ok(from + zeroBytes < recordPositions(log)[3]!.position, 'the zeros lie inside record 2');
  const fd = fs.openSync(log, 'r+');
  fs.writeSync(fd, Buffer.alloc(zeroBytes), 0, zeroBytes, from);
  fs.closeSync(fd);
  // The index's pages are written back in any order too: with or without the batch's entries.
  if (indexEntries !== undefined) fs.truncateSync(index, 32 + 12 * indexEntries);
  return dataDir;
}

/** For each offset below the end: the offsets a read from it returns, or its error code. */
function readEach(engine: Awaited<ReturnType<typeof openEngine>>): unknown[] {
  const out: unknown[] = [];
  for (let offset = 0; offset < engine.stats('s').nextOffset; offset++) {
    try {
      out.push(engine.read('s', offset, { maxEvents: 10 }).map((e) => e.offset));
    } catch (error) {
      out.push(isEventBusError(error) ? error.code : String(error));
    }
  }
  return out;
}

for (const [label, zeroBytes, indexEntries] of [['a page', 4096, undefined], ['a sector', SECTOR_BYTES, undefined], ['a page, the index without the batch', 4096, 1]] as const) {
  t.test(`after a crash, ${label} of zeros inside a batch with its later records written: the batch is cut whole`, async (t) => {
    const dataDir = await holedStore(t, zeroBytes, indexEntries);
    simulateCrash(dataDir);
    const report = verifyDirectory(nodeIO, dataDir);
    t.same(report.problems, [], 'verify finds no damage: a torn write');
    t.ok(report.notes.some((n) => /record bad-crc at offset 2: a torn tail, never acknowledged; cut off on open/.test(n.message)), 'it says the open cuts it');
    const logger = capturingLogger();
    const engine = await openEngine(dataDir, { ...OPTIONS, logger });
    t.teardown(() => engine.close());
    t.same(readEach(engine), [[0]], 'only event 0 is left: no record of the torn batch reads, offset 3 neither');
    t.same(engine.stats('s').damage, [], 'nothing is damage: the batch was never acknowledged');
    t.ok(logger.records.some((r) => r.message.includes('truncated the torn tail of an active segment')), 'the cut is logged');
    const again = await engine.appendEvents('s', [{ payload: payload('n1', 10) }, { payload: payload('n2', 10) }]);
    t.same(again.events.map((e) => e.offset), [1, 2], 'the offsets are given again');
    t.same(readEach(engine), [[0, 1, 2], [1, 2], [2]]);
  });
}

t.test('after a clean stop the same zeros are damage to acknowledged events: kept, the later records too', async (t) => {
  const dataDir = await holedStore(t, 4096);
  const engine = await openEngine(dataDir, OPTIONS);
  t.equal(engine.stats('s').nextOffset, 4, 'nothing is cut');
  t.same(readEach(engine).slice(0, 3), [[0], 'CORRUPT_DATA', 'CORRUPT_DATA'], 'the damaged part of the batch fails');
  await engine.close();
  t.match(verifyDirectory(nodeIO, dataDir).problems, [{ message: /offsets 1 to 2 are damaged/ }]);
});
