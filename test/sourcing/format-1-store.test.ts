/**
 * A store written before record format 2 (test/fixtures/store-format-1, see its README) opens
 * and reads unchanged with today's engine: every payload at its offset, the consumer where it
 * was, no new fields on old events. New appends (keyed batches) go to new format-2 segments, the
 * old segments stay as they were, and verify finds the mixed store sound, also after a reopen.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { nodeIO, verifyDirectory } from '../../src/storage/index.js';
import { openEngine, readAll, segmentFiles, streamDir } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/store-format-1/', import.meta.url));

interface Expected { orders: string[]; single: string[]; empty: string[]; segments: number; billing: { cursor: number; acknowledged: number[] } }

t.test('a format-1 store opens, reads unchanged, takes keyed batches and verifies', async (t) => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8')) as Expected;
  const dataDir = path.join(tempDir(t, 'format-1'), 'data');
  fs.cpSync(path.join(FIXTURE, 'data'), dataDir, { recursive: true });
  const before = new Map<string, Buffer>();
  for (const stream of fs.readdirSync(path.join(dataDir, 'streams'))) {
    for (const file of fs.readdirSync(path.join(dataDir, 'streams', stream))) if (/\.(log|index)$/.test(file)) before.set(`${stream}/${file}`, fs.readFileSync(path.join(dataDir, 'streams', stream, file)));
  }

  let engine = await openEngine(dataDir, { segmentSizeBytes: 4096 });
  for (const name of ['orders', 'single', 'empty'] as const) {
    const events = readAll(engine, name);
    t.same(events.map((e) => e.payload.toString()), expected[name], `${name}: every payload at its offset`);
    t.ok(events.every((e) => e.attributes === null), `${name}: old events have no new fields`);
  }
  t.equal(engine.stats('orders').segmentCount, expected.segments);
  const consumer = engine.stats('orders').consumers.find((c) => c.name === 'billing');
  t.equal(consumer?.cursor, expected.billing.cursor, 'the consumer is where it was');

  // New keyed batches: the active format-1 segment is rolled first; versions start at 0.
  const first = await engine.appendEvents('orders', [{ payload: Buffer.from('{"n":1}'), type: 'T' }, { payload: Buffer.from('{"n":2}') }], { key: 'order-9', expectedVersion: 'no_stream' });
  t.same(first.events.map((e) => [e.offset, e.version]), [[150, 0], [150 + 1, 1]]);
  await engine.appendEvents('empty', [{ payload: Buffer.from('{}'), msgId: 'm' }], { key: 'k' });
  const dir = streamDir(engine, 'orders');
  t.equal(segmentFiles(dir).at(-1)!.base, 150, 'the new events start a new segment');
  await engine.close();
  for (const [file, bytes] of before) {
    const now = path.join(dataDir, 'streams', file);
    // Records are never rewritten (an empty format-1 segment, holding none, is started afresh as format 2).
    if (file.endsWith('.log') && bytes.length > 32) t.same(fs.readFileSync(now).subarray(0, bytes.length), bytes, `${file}: the old records are unchanged`);
  }

  const report = verifyDirectory(nodeIO, dataDir);
  t.same(report.problems, [], 'verify finds the mixed store sound');
  t.equal(report.ok, true);

  engine = await openEngine(dataDir, { segmentSizeBytes: 4096 });
  t.teardown(() => engine.close());
  const orders = readAll(engine, 'orders');
  t.same(orders.slice(0, 150).map((e) => e.payload.toString()), expected.orders);
  t.same(orders.slice(150).map((e) => [e.attributes?.key, e.attributes?.version, e.attributes?.type]), [['order-9', 0, 'T'], ['order-9', 1, undefined]]);
  t.same(engine.keyVersion('orders', 'order-9'), { version: 1, offset: 151 });
  t.equal((await engine.appendEvents('empty', [{ payload: Buffer.from('{}'), msgId: 'm' }], { key: 'k' })).duplicate, true, 'the duplicate window is rebuilt over the mixed store');
});
