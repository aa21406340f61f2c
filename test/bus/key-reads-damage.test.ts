/**
 * A read by key that meets a damaged batch stops short of it, as a read by offset does: the
 * versions before it come back with `next_version` at the damaged one and `at_end` false; a read
 * starting at a damaged version fails with CORRUPT_DATA; past it the key reads again. Forward and
 * backward (get_stream_events with `key`, through the bus's page reader).
 */
import fs from 'node:fs';
import t from 'tap';
import { readStoredPage } from '../../src/bus/event-reads.js';
import { ErrorCodes, isEventBusError } from '../../src/errors.js';
import { openEngine, payload, recordPositions, segmentFiles, streamDir } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

const OPTIONS = { segmentSizeBytes: 4096 };
const LIMITS = { maxEvents: 100, maxBytes: 4 * 1024 * 1024 };

t.test('a key page stops short of a damaged batch (forward and backward); a read from inside it fails; past it reads again', async (t) => {
  const dataDir = tempDir(t, 'key-damage');
  const engine = await openEngine(dataDir, OPTIONS);
  await engine.createStream('s');
  // Key k gets versions 3b..3b+2 at batch b (8 batches), each batch followed by a keyless event.
  for (let b = 0; b < 8; b++) {
    await engine.appendEvents('s', Array.from({ length: 3 }, (_, i) => ({ payload: payload(`k${b}-${i}`, 120) })), { key: 'k' });
    await engine.append('s', payload(`x${b}`, 120));
  }
  const dir = streamDir(engine, 's');
  await engine.close();
  // Damage the last record of batch 3 (versions 9..11, offsets 12..14).
  const segments = segmentFiles(dir);
  const segment = segments.findLast((s) => s.base <= 14)!;
  const record = recordPositions(segment.log)[14 - segment.base]!;
  const fd = fs.openSync(segment.log, 'r+');
  fs.writeSync(fd, Buffer.from('#'), 0, 1, record.position + record.size - 3);
  fs.closeSync(fd);

  const reopened = await openEngine(dataDir, OPTIONS);
  t.teardown(() => reopened.close());
  const versions = (page: { stored: { attributes: { version?: number } | null }[] }) => page.stored.map((e) => e.attributes?.version);
  const forward = readStoredPage(reopened, 's', { fromOffset: 0, key: 'k', fromVersion: 0 }, LIMITS);
  t.same(versions(forward), [0, 1, 2, 3, 4, 5, 6, 7, 8], 'forward: the versions before the damaged batch');
  t.same([forward.nextVersion, forward.atEnd], [9, false], 'continue at the damaged version, not at the end');
  let failed: unknown = null;
  try {
    readStoredPage(reopened, 's', { fromOffset: 0, key: 'k', fromVersion: 9 }, LIMITS);
  } catch (error) {
    failed = error;
  }
  t.ok(isEventBusError(failed, ErrorCodes.CORRUPT_DATA), 'a read from the damaged version is CORRUPT_DATA');
  const after = readStoredPage(reopened, 's', { fromOffset: 0, key: 'k', fromVersion: 12 }, LIMITS);
  t.same(versions(after), [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], 'past it, the key reads on to its end');
  t.equal(after.atEnd, true);
  const backward = readStoredPage(reopened, 's', { fromOffset: 0, fromEnd: true, direction: 'backward', key: 'k' }, LIMITS);
  t.same(versions(backward), [23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12], 'backward: down to just above the damaged batch');
  t.same([backward.nextVersion, backward.atEnd], [11, false], 'continue at the damaged version');
});
