/**
 * The append checks of stores that do not make them themselves (bus/append-checks.ts, used by the
 * JetStream store) against the engine's own: every refusal the same code, reason and context, and
 * what the engine takes, taken. A change to either side that the other does not follow fails here.
 */
import path from 'node:path';
import t from 'tap';
import { checkAppend, DEFAULT_BATCH_LIMITS } from '../../src/bus/append-checks.js';
import type { AppendOptions, EventToAppend } from '../../src/bus/event-store.js';
import { Engine } from '../../src/storage/engine.js';
import { resolveOptions } from '../../src/storage/engine-options.js';
import { isEventBusError } from '../../src/errors.js';
import { tempDir } from '../helpers/server-process.js';

const MAX_EVENT_BYTES = 1000;
const payload = Buffer.from('"x"');
const cases: [string, EventToAppend[], AppendOptions][] = [
  ['no events', [], {}],
  ['1,001 events', Array.from({ length: 1001 }, () => ({ payload })), {}],
  ['an empty key', [{ payload }], { key: '' }],
  ['a 256-byte key', [{ payload }], { key: 'k'.repeat(256) }],
  ['a 255-byte key of 2-byte characters plus one', [{ payload }], { key: 'é'.repeat(128) }],
  ['a 4 KiB key', [{ payload }], { key: 'k'.repeat(4096) }],
  ['an empty type', [{ payload, type: '' }], {}],
  ['a 256-byte type', [{ payload, type: 't'.repeat(256) }], {}],
  ['a 200 KB type', [{ payload, type: 't'.repeat(200_000) }], {}],
  ['an empty msg_id', [{ payload, msgId: '' }], {}],
  ['a 65-byte msg_id', [{ payload, msgId: 'm'.repeat(65) }], {}],
  ['empty metadata', [{ payload, metadata: Buffer.alloc(0) }], {}],
  ['a msg_id twice', [{ payload, msgId: 'a' }, { payload, msgId: 'a' }], {}],
  ['an event over the limit', [{ payload: Buffer.alloc(MAX_EVENT_BYTES + 1, 0x31) }], {}],
  ['body and metadata over the limit', [{ payload: Buffer.alloc(MAX_EVENT_BYTES - 5, 0x31), metadata: Buffer.from('{"a":1}') }], {}],
  ['a bad expected version', [{ payload }], { expectedVersion: -2 }],
  ['a fractional expected version', [{ payload }], { expectedVersion: 1.5 }],
  ['a batch over its bytes', Array.from({ length: 5 }, () => ({ payload: Buffer.alloc(MAX_EVENT_BYTES, 0x31) })), {}],
  ['at every limit', [{ payload, type: 't'.repeat(255), msgId: 'm'.repeat(64), metadata: Buffer.from('{}') }], { key: 'k'.repeat(255) }],
  ['plain', [{ payload }, { payload }], { expectedVersion: 'any' }],
];

t.test('the checks refuse what the engine refuses, with the same code, reason and context', async (t) => {
  const dir = tempDir(t);
  const limits = { maxEventBytes: MAX_EVENT_BYTES, maxBatchEvents: DEFAULT_BATCH_LIMITS.maxBatchEvents, maxBatchBytes: 4 * MAX_EVENT_BYTES };
  const engine = await Engine.open({ dataDir: path.join(dir, 'data'), fsync: 'never', ...limits });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  for (const [what, events, options] of cases) {
    let engineRefusal: unknown = null;
    try {
      await engine.appendEvents('s', events.map((e) => ({ payload: e.payload, ...(e.type === undefined ? {} : { type: e.type }), ...(e.msgId === undefined ? {} : { msgId: e.msgId }), ...(e.metadata === undefined ? {} : { metadata: e.metadata }) })), options);
    } catch (error) {
      engineRefusal = error;
    }
    let ours: unknown = null;
    try {
      checkAppend(events, options, limits);
    } catch (error) {
      ours = error;
    }
    if (engineRefusal === null || (isEventBusError(engineRefusal) && engineRefusal.code === 'WRONG_EXPECTED_VERSION')) {
      t.equal(ours, null, `${what}: taken (the engine took it or refused it for the stream's contents)`);
      continue;
    }
    t.ok(isEventBusError(engineRefusal) && isEventBusError(ours), `${what}: both refuse`, { engine: String(engineRefusal), ours: String(ours) });
    if (!isEventBusError(engineRefusal) || !isEventBusError(ours)) continue;
    t.same([ours.code, ours.reason, ours.context], [engineRefusal.code, engineRefusal.reason, engineRefusal.context], `${what}: ${engineRefusal.code} ${engineRefusal.reason}`);
  }
});

t.test('the default batch limits are the engine\'s', async (t) => {
  const defaults = resolveOptions({ dataDir: 'unused' });
  t.same(DEFAULT_BATCH_LIMITS, { maxBatchEvents: defaults.maxBatchEvents, maxBatchBytes: defaults.maxBatchBytes });
});
