/**
 * The largest event the engine accepts is stored readable: an event of exactly the highest
 * `maxEventBytes` (64 MiB), alone or with the largest key, type and msg_id beside its metadata,
 * reads back as written, verifies, and reads back again after a reopen. (The record's length
 * field counts the fields too: a reader that bounded it by the event limit alone called such a
 * record damaged after acknowledging it.)
 */
import t from 'tap';
import { nodeIO } from '../../src/storage/fs/io.js';
import { verifyDirectory } from '../../src/storage/tools/verify.js';
import type { Engine } from '../../src/storage/engine.js';
import { openEngine } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

const MAX_EVENT_BYTES = 64 * 1024 * 1024;

t.test('an event of the largest size accepted, with the largest fields, reads back, verifies and reads back after a reopen', async (t) => {
  const dataDir = tempDir(t);
  const limits = { maxEventBytes: MAX_EVENT_BYTES, maxBatchBytes: MAX_EVENT_BYTES };
  const key = 'k'.repeat(255);
  const type = 't'.repeat(255);
  const msgId = 'm'.repeat(64);
  // The batch's bytes (payload, metadata, key, type, msg_id) are exactly the batch limit.
  const metadata = Buffer.from(`{"m":"${'x'.repeat(1000)}"}`);
  const bare = Buffer.alloc(MAX_EVENT_BYTES, 0x61);
  const withFields = Buffer.alloc(MAX_EVENT_BYTES - metadata.length - key.length - type.length - msgId.length, 0x62);

  const check = (engine: Engine, when: string) => {
    const [first] = engine.read('s', 0, { maxEvents: 1 });
    t.equal(first?.offset, 0, `${when}: the bare event is read`);
    t.ok(first?.payload.equals(bare), `${when}: all ${MAX_EVENT_BYTES} bytes of it, as written`);
    const [second] = engine.read('s', 1, { maxEvents: 1 });
    t.ok(second?.payload.equals(withFields), `${when}: the event with fields has its body as written`);
    t.same(second?.attributes, { key, version: 0, type, msgId, metadata }, `${when}: and its fields`);
  };

  const engine = await openEngine(dataDir, limits);
  await engine.createStream('s');
  t.equal((await engine.append('s', bare)).offset, 0, 'a payload of exactly maxEventBytes is acknowledged');
  const appended = await engine.appendEvents('s', [{ payload: withFields, metadata, type, msgId }], { key });
  t.equal(appended.events[0]!.offset, 1, 'an event of exactly the batch limit with every field at its longest is acknowledged');
  check(engine, 'before close');
  await engine.close();

  const report = verifyDirectory(nodeIO, dataDir);
  t.equal(report.ok, true, 'the store verifies');
  t.equal(report.events, 2, 'with both events');
  t.equal(report.damagedEvents, 0, 'and none damaged');
  t.same(report.problems, []);

  const reopened = await openEngine(dataDir, limits);
  t.teardown(() => reopened.close());
  check(reopened, 'after a reopen');
  t.same(reopened.recovery.totals.damage, 0, 'recovery found no damage');
});
