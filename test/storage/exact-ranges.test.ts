/**
 * A refusal of a number says exactly what is accepted: the range, up to 2^53 − 1 (past which a
 * JavaScript number is not exact), never "at least N", which 2^53 itself satisfies. As the
 * protocol's checks say it (test/protocol/parse-request.test.ts), so do the engine's arguments and
 * options, the server's options and the research tools'.
 */
import path from 'node:path';
import t from 'tap';
import { Engine, ErrorCodes, EventBusServer, isEventBusError } from 'eventbus';
import { FaultyIO } from 'eventbus/storage/testing';
import { tempDir } from '../helpers/temp-dir.js';

const TOP = '9007199254740991';

async function expectedOf(call: () => unknown): Promise<string | undefined> {
  try {
    await call();
  } catch (error) {
    if (isEventBusError(error, ErrorCodes.INVALID_FIELD)) return (error.context as { expected?: string }).expected;
    throw error;
  }
  return undefined;
}

t.test('2^53 is refused with the exact range, whichever door it comes through', async (t) => {
  const dir = tempDir(t, 'exact-ranges');
  const engine = await Engine.open({ dataDir: path.join(dir, 'data'), retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const big = 2 ** 53;
  t.equal(await expectedOf(() => engine.read('s', big)), `a whole number from -${TOP} to ${TOP}`, 'a read position (below the oldest is allowed)');
  t.equal(await expectedOf(() => engine.eventStatuses('s', 'c', [big])), `a whole number from 0 to ${TOP}`, 'an offset');
  t.equal(await expectedOf(() => engine.read('s', 0, { maxEvents: big })), `a whole number from 1 to ${TOP}`, 'a count');
  t.equal(await expectedOf(() => engine.offsetAtTime('s', big)), `a whole number from -${TOP} to ${TOP} (milliseconds since the epoch)`, 'a time');
  t.equal(await expectedOf(() => Engine.open({ dataDir: path.join(dir, 'other'), maxStreams: big })), `a whole number from 1 to ${TOP}`, 'an engine option');
  t.equal(await expectedOf(() => EventBusServer.start({ engine, port: 0, bus: { snapshotsRoot: dir }, limits: { maxConnections: big } })), `a whole number from 1 to ${TOP}`, 'a server limit');
  t.equal(await expectedOf(() => new FaultyIO().inject({ op: 'datasync', errno: 'EIO', nth: big })), `a whole number from 1 to ${TOP}`, 'a fault count');
});
