/**
 * A filtered consumer's process_events: a long-poll finds a matching event already stored however
 * many events before it do not pass (scanning on in later turns rather than sleeping), a call
 * without wait_ms answers after its scan budget, and a batch is filled up to max_events.
 */
import t, { type Test } from 'tap';
import { Engine } from '../../src/storage/index.js';
import { tempDir } from '../helpers/temp-dir.js';

async function openEngine(t: Test): Promise<Engine> {
  const engine = await Engine.open({ dataDir: tempDir(t, 'filtered-polls'), retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  return engine;
}

/** `common` events of type "common" (key "k0"), then one of type "rare" (key "k1"). */
async function fill(engine: Engine, common: number): Promise<void> {
  await engine.createStream('s');
  for (let i = 0; i < common; i += 1000) {
    const n = Math.min(1000, common - i);
    await engine.appendEvents('s', Array.from({ length: n }, (_, j) => ({ payload: Buffer.from(String(i + j)), type: 'common' })), { key: 'k0' });
  }
  await engine.appendEvents('s', [{ payload: Buffer.from('"rare"'), type: 'rare' }], { key: 'k1' });
}

for (const [name, filter] of [['types', { types: ['rare'] }], ['key', { key: 'k1' }]] as const) {
  t.test(`a long-poll with a ${name} filter gets a matching event stored behind 100 that do not pass, at once`, async (t) => {
    const engine = await openEngine(t);
    await fill(engine, 100);
    const started = Date.now();
    const got = await engine.consume('s', 'r', { filter, maxEvents: 1, waitMs: 3000 });
    t.same(got.events.map((e) => e.offset), [100]);
    t.equal(got.more, false);
    t.ok(Date.now() - started < 1500, `answered without waiting out wait_ms (${Date.now() - started} ms)`);
  });
}

t.test('past the scan budget: without wait_ms the call answers more:true; with it, it scans on', async (t) => {
  const engine = await openEngine(t);
  await fill(engine, 20_000);
  const quick = await engine.consume('s', 'r', { filter: { types: ['rare'] }, maxEvents: 1 });
  t.same([quick.events, quick.more], [[], true], 'no wait: at once, with more');
  const cursor = engine.stats('s').consumers[0]!.cursor;
  t.ok(cursor > 0 && cursor < 20_000, `the cursor moved past what was scanned (${cursor})`);
  const started = Date.now();
  const got = await engine.consume('s', 'r', { maxEvents: 1, waitMs: 10_000 });
  t.same(got.events.map((e) => e.offset), [20_000], 'found behind many budgets');
  t.ok(Date.now() - started < 8000, `before wait_ms ran out (${Date.now() - started} ms)`);
  t.same(engine.stats('s').consumers[0]!.cursor, 20_001);
});

t.test('other callers are served while a filtered long-poll scans', async (t) => {
  const engine = await openEngine(t);
  await fill(engine, 30_000);
  const scanning = engine.consume('s', 'r', { filter: { types: ['none'] }, maxEvents: 1, waitMs: 600 });
  const started = Date.now();
  const other = await engine.consume('s', 'plain', { maxEvents: 1 });
  t.same(other.events.map((e) => e.offset), [0]);
  t.ok(Date.now() - started < 500, `not held up by the scan (${Date.now() - started} ms)`);
  const result = await scanning;
  t.same(result.events, []);
});

t.test('a filtered batch is filled up to max_events', async (t) => {
  const engine = await openEngine(t);
  await engine.createStream('s');
  await engine.appendEvents('s', Array.from({ length: 20 }, (_, i) => ({ payload: Buffer.from(String(i)), type: i % 2 === 0 ? 'even' : 'odd' })));
  const first = await engine.consume('s', 'odd', { filter: { types: ['odd'] }, maxEvents: 3 });
  t.same([first.events.map((e) => e.offset), first.more], [[1, 3, 5], true]);
  t.equal(engine.stats('s').consumers[0]!.cursor, 6, 'the cursor stops after the last delivered');
  const rest = await engine.consume('s', 'odd', { maxEvents: 100 });
  t.same([rest.events.map((e) => e.offset), rest.more], [[7, 9, 11, 13, 15, 17, 19], false]);
});
