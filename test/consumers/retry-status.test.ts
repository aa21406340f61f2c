/**
 * An event marked 2 and redelivered by retry keeps status 2 until it is marked again (issue 9,
 * item 9), as in the original, where retry_events never changed a status. It is still not due
 * again before its acknowledgement deadline.
 */
import t from 'tap';
import { Engine } from '../../src/storage/index.js';
import { tempDir } from '../helpers/temp-dir.js';

async function open(t: Parameters<typeof tempDir>[0]): Promise<Engine> {
  const engine = await Engine.open({ dataDir: tempDir(t, 'retry-status'), retentionIntervalMs: 0, consumers: { ackWaitMs: 60_000 } });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  await engine.appendMany('s', [Buffer.from('0'), Buffer.from('1'), Buffer.from('2')]);
  return engine;
}

const statuses = (engine: Engine) => engine.eventStatuses('s', 'c', [0, 1, 2]).map((s) => [s.status, s.deliveryCount]);

t.test('marked 2, redelivered by retry: still status 2, until the next mark', async (t) => {
  const engine = await open(t);
  await engine.consume('s', 'c', {});
  await engine.mark('s', 'c', [1], 2);
  t.same(statuses(engine), [[0, 1], [2, 1], [0, 1]]);
  const retried = await engine.retry('s', 'c', {});
  t.same(retried.events.map((e) => [e.offset, e.status, e.deliveryCount]), [[1, 2, 2]], 'retry reports it with status 2');
  t.same(statuses(engine), [[0, 1], [2, 2], [0, 1]], 'and it keeps status 2 afterwards');
  t.same(engine.stats('s').consumers[0]!.retry, 1, 'stats count it with status 2');
  t.same((await engine.retry('s', 'c', {})).events, [], 'but it is not due again before its deadline');
  await engine.mark('s', 'c', [1], 1);
  t.same(statuses(engine)[1], [1, 0], 'the next mark sets its status');
});

t.test('marked 0 and redelivered by process: status 0, as before', async (t) => {
  const engine = await open(t);
  await engine.consume('s', 'c', {});
  await engine.mark('s', 'c', [2], 0);
  const again = await engine.consume('s', 'c', {});
  t.same(again.events.map((e) => [e.offset, e.status, e.deliveryCount]), [[2, 0, 2]]);
  t.same(statuses(engine)[2], [0, 2]);
});

t.test('retried, then marked 2 again and retried again: status 2 throughout; marked 0: status 0', async (t) => {
  const engine = await open(t);
  await engine.consume('s', 'c', {});
  await engine.mark('s', 'c', [0], 2);
  await engine.retry('s', 'c', {});
  await engine.mark('s', 'c', [0], 2);
  t.same(statuses(engine)[0], [2, 2]);
  await engine.retry('s', 'c', {});
  t.same(statuses(engine)[0], [2, 3]);
  await engine.mark('s', 'c', [0], 0);
  t.same(statuses(engine)[0], [0, 3], 'a mark 0 shows 0 until process delivers it again');
});
