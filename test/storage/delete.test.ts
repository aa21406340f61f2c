/**
 * Deleting a stream removes its files and its name for good (also across a reopen); the name can
 * be used again for a new, empty stream; other streams are untouched; appends in flight when the
 * delete comes settle, and never hold up anyone else.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusError } from '../../src/errors.js';
import { openEngine, payload, readAll, streamDir } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof EventBusError ? error.code : String(error);
  }
}

t.test('delete removes the files, the name and the events, for good', async (t) => {
  const dataDir = tempDir(t);
  let engine = await openEngine(dataDir, { segmentSizeBytes: 1024 });
  await engine.createStream('doomed');
  await engine.createStream('kept');
  for (let i = 0; i < 40; i++) await engine.appendMany('doomed', [payload(`d${i}`, 100)]);
  await engine.append('kept', Buffer.from('still here'));
  const dir = streamDir(engine, 'doomed');
  const oldId = engine.getStream('doomed')!.id;
  t.ok(fs.readdirSync(dir).length > 4, 'the stream had several segment files');

  await engine.deleteStream('doomed');
  t.notOk(fs.existsSync(dir), 'its directory is gone');
  t.equal(engine.getStream('doomed'), undefined);
  t.same(engine.listStreams().map((s) => s.name), ['kept']);
  t.equal(code(() => engine.read('doomed', 0)), 'STREAM_NOT_FOUND');
  t.equal(code(() => engine.stats('doomed')), 'STREAM_NOT_FOUND');
  await t.rejects(engine.append('doomed', Buffer.from('x')), { code: 'STREAM_NOT_FOUND' });
  await t.rejects(engine.deleteStream('doomed'), { code: 'STREAM_NOT_FOUND' });

  await engine.close();
  engine = await openEngine(dataDir, { segmentSizeBytes: 1024 });
  t.teardown(() => engine.close());
  t.equal(engine.getStream('doomed'), undefined, 'still gone after reopen');
  t.same(fs.readdirSync(path.join(dataDir, 'streams')), [engine.getStream('kept')!.id], 'only the kept stream has files');
  t.equal(readAll(engine, 'kept')[0]?.payload.toString(), 'still here', 'other streams untouched');

  const again = await engine.createStream('doomed');
  t.not(again.id, oldId, 'a new stream with the old name is a new stream');
  t.same(engine.read('doomed', 0), [], 'with none of the old events');
  t.equal((await engine.append('doomed', Buffer.from('new'))).offset, 0, 'and offsets from 0');
});

t.test('appends in flight when a stream is deleted settle, and other streams are not held up', async (t) => {
  const dataDir = tempDir(t);
  const engine = await openEngine(dataDir, { segmentSizeBytes: 2048 });
  t.teardown(() => engine.close());
  await engine.createStream('doomed');
  await engine.createStream('busy');
  const settled = { resolved: 0, rejected: 0 };
  const inFlight: Promise<unknown>[] = [];
  // Keep both streams busy, several event-loop turns deep, so that commits of the doomed stream
  // are queued and running when the delete comes.
  for (let turn = 0; turn < 10; turn++) {
    for (let i = 0; i < 10; i++) {
      inFlight.push(engine.append('doomed', payload(`d${turn}.${i}`, 80)).then(() => settled.resolved++, () => settled.rejected++));
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const busy = (async () => {
    for (let i = 0; i < 100; i++) await engine.append('busy', payload(`b${i}`, 50));
  })();
  const deleted = engine.deleteStream('doomed');
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('appends or the delete never settled')), 10_000).unref());
  await Promise.race([Promise.all([deleted, busy, ...inFlight]), timeout]);
  t.equal(settled.resolved + settled.rejected, 100, 'every append to the deleted stream settled');
  t.equal(readAll(engine, 'busy').length, 100, 'the other stream took all its appends');
  t.equal(engine.getStream('doomed'), undefined);
  t.same(fs.readdirSync(path.join(dataDir, 'streams')), [engine.getStream('busy')!.id], 'the deleted stream\'s files are gone');
});
