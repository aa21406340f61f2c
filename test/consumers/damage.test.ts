/**
 * A damaged event never stops a consumer for good: it can never be delivered, so it is moved to
 * the dead-letter stream (saying where the damage is) and delivery goes on after it.
 */
import t from 'tap';
import { appendEach, flipBit, openEngine, recordPositions, segmentFiles, streamDir } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('a consumer reaching a damaged event dead-letters it and goes on', async (t) => {
  const dataDir = tempDir(t, 'consumer-damage');
  let engine = await openEngine(dataDir, { segmentSizeBytes: 1024 });
  await engine.createStream('s');
  await appendEach(engine, 's', Array.from({ length: 40 }, (_, i) => Buffer.from(JSON.stringify({ i, pad: 'p'.repeat(40) }))));
  await engine.consume('s', 'early', { maxEvents: 40 }); // delivered before the damage, not yet marked
  const dir = streamDir(engine, 's');
  await engine.close();
  // Damage a record in the middle of a sealed segment, after a clean stop.
  const segment = segmentFiles(dir)[1]!;
  const victim = recordPositions(segment.log)[1]!;
  flipBit(segment.log, victim.position + 30, 2);
  const damagedOffset = segment.base + 1;

  engine = await openEngine(dataDir, { segmentSizeBytes: 1024, consumers: { ackWaitMs: 0 } });
  t.teardown(() => engine.close());
  t.throws(() => engine.read('s', damagedOffset), { code: 'CORRUPT_DATA' }, 'the damaged event cannot be read');

  const seen: number[] = [];
  for (;;) {
    const { events } = await engine.consume('s', 'fresh', { maxEvents: 7 });
    if (events.length === 0) break;
    seen.push(...events.map((e) => e.offset));
    await engine.mark('s', 'fresh', events.map((e) => e.offset), 1);
  }
  t.same(seen, Array.from({ length: 40 }, (_, i) => i).filter((o) => o !== damagedOffset), 'every other event is delivered, in order');
  const dead = engine.read('$dlq:s', 0).map((e) => JSON.parse(e.payload.toString()) as Record<string, unknown>);
  t.match(dead, [{ stream: 's', offset: damagedOffset, consumer: 'fresh', damaged: { file: segment.log, position: victim.position } }], 'the dead-letter stream says which event and where the damage is');
  t.equal(engine.stats('s').consumers.find((c) => c.name === 'fresh')!.deadLettered, 1);

  // A consumer that had it delivered before the damage gets it through retry no more: it is
  // dead-lettered there too, and every other outstanding event comes back.
  const retried = await engine.retry('s', 'early', { maxEvents: 100 });
  t.same(retried.events.map((e) => e.offset), Array.from({ length: 40 }, (_, i) => i).filter((o) => o !== damagedOffset), 'retry skips the damaged event');
  t.equal(engine.stats('s').consumers.find((c) => c.name === 'early')!.deadLettered, 1);
});
