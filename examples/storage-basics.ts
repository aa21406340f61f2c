import { Engine } from 'eventbus/storage';

// Opens the store in this directory (creating it), recovering whatever a crash left.
const engine = await Engine.open({ dataDir: process.argv[2] ?? 'example-data' });
try {
  if (engine.getStream('orders') === undefined) await engine.createStream('orders');

  // One event: resolves once it is on disk (fsync policy `always`, the default).
  const first = await engine.append('orders', Buffer.from('{"total":12.5}'));
  // A batch: consecutive offsets and one timestamp, written and fsynced together, all or nothing.
  const batch = await engine.appendMany('orders', [Buffer.from('{"total":3}'), Buffer.from('{"total":4}')]);
  console.log(`appended offsets ${first.offset} to ${batch[batch.length - 1]!.offset}`);

  // Reads are synchronous: the events from an offset, bounded by count (and bytes).
  for (const event of engine.read('orders', first.offset, { maxEvents: 10 })) {
    console.log(`#${event.offset} ${event.payload.toString()}`);
  }
  const { firstOffset, nextOffset, segmentCount } = engine.stats('orders');
  console.log(`orders holds offsets ${firstOffset} to ${nextOffset - 1} in ${segmentCount} segment(s)`);
} finally {
  await engine.close(); // writes and fsyncs what is queued, then releases the LOCK
}
