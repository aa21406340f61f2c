/**
 * Consumer operations when things go wrong: a consumer journal that failed, a stream deleted
 * under a long-poll, the consumer limit. Each gets a clear error with a stable code, and nothing
 * escapes as an unhandled rejection (which would end a server).
 */
import t from 'tap';
import { Engine } from '../../src/storage/index.js';
import { FaultyIO } from 'eventbus/storage/testing';
import { tempDir } from '../helpers/temp-dir.js';

t.test('after the consumer journal failed, a new consumer gets a clear refusal', async (t) => {
  const io = new FaultyIO();
  const engine = await Engine.open({ dataDir: tempDir(t, 'consumer-fail'), io, retentionIntervalMs: 0 });
  t.teardown(() => engine.close().catch(() => {}));
  await engine.createStream('s');
  await engine.appendMany('s', [Buffer.from('1'), Buffer.from('2')]);
  io.inject({ op: 'datasync', errno: 'EIO', path: /consumers$/, persistent: true });
  await t.rejects(engine.consume('s', 'first', {}), { code: 'IO_ERROR' }, 'the delivery that failed its fsync is not acknowledged');
  await t.rejects(engine.consume('s', 'brand-new', {}), { code: 'STREAM_FAILED' }, 'a new consumer is refused, with a reason');
  await t.rejects(engine.retry('s', 'another', {}), { code: 'STREAM_FAILED' });
  t.same(engine.read('s', 0).map((e) => e.payload.toString()), ['1', '2'], 'reads keep working');
});

t.test('a long-poll on a stream that is deleted ends with stream not found', async (t) => {
  const engine = await Engine.open({ dataDir: tempDir(t, 'consumer-deleted'), retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  await engine.createStream('gone');
  const polling = engine.consume('gone', 'c', { waitMs: 5000 });
  const outcome = t.rejects(polling, { code: 'STREAM_NOT_FOUND', reason: "stream 'gone' not found" });
  await new Promise((resolve) => setTimeout(resolve, 30));
  await engine.deleteStream('gone');
  await outcome;
});

t.test('the consumer limit has its own code', async (t) => {
  const engine = await Engine.open({ dataDir: tempDir(t, 'consumer-limit'), retentionIntervalMs: 0, consumers: { maxConsumersPerStream: 2 } });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  await engine.consume('s', 'a', {});
  await engine.consume('s', 'b', {});
  await t.rejects(engine.consume('s', 'c', {}), { code: 'TOO_MANY_CONSUMERS' });
  await engine.consume('s', 'a', {});
  t.pass('existing consumers keep working');
});

t.test('the stream limit has its own code, and deleting makes room', async (t) => {
  const engine = await Engine.open({ dataDir: tempDir(t, 'stream-limit'), retentionIntervalMs: 0, maxStreams: 2 });
  t.teardown(() => engine.close());
  await engine.createStream('a');
  await engine.createStream('b');
  await t.rejects(engine.createStream('c'), { code: 'TOO_MANY_STREAMS' });
  await engine.deleteStream('a');
  await engine.createStream('c');
  t.same(engine.listStreams().map((s) => s.name), ['b', 'c']);
});

t.test('an append racing a delete of its stream gets stream not found', async (t) => {
  const engine = await Engine.open({ dataDir: tempDir(t, 'append-deleted'), retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const appending = engine.append('s', Buffer.from('"late"'));
  const deleting = engine.deleteStream('s');
  const outcome = await appending.then(() => 'acknowledged', (error: { code: string }) => error.code);
  await deleting;
  t.ok(outcome === 'acknowledged' || outcome === 'STREAM_NOT_FOUND', `the append was either acknowledged first or refused as not found (${outcome})`);
  await t.rejects(engine.append('s', Buffer.from('1')), { code: 'STREAM_NOT_FOUND' });
});
