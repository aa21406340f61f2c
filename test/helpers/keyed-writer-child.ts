/**
 * A child process that appends keyed events to an engine until it is killed, for tests of the
 * key index after a real SIGKILL. Run as
 *
 *   node dist/test/helpers/keyed-writer-child.js DATA_DIR KEYS FLUSH_EVENTS [STOP_AFTER IDLE_FLUSH_MS]
 *
 * It opens the store (fsync always, a key index flushing every FLUSH_EVENTS entries), creates
 * stream `s` if needed, and appends batches of 1 to 5 events to keys `k0`…`k<KEYS-1>` in turn,
 * a few appends in flight at once. After each acknowledged append it prints one JSON line
 * `{"key": k, "version": v, "offset": o}` (the batch's last event): everything printed is durable.
 * With STOP_AFTER it stops appending after that many appends, prints `{"idle":true}` and waits
 * (its key index writes an idle memtable out after IDLE_FLUSH_MS, then it prints `{"flushed":true}`).
 */
import { Engine } from '../../src/storage/index.js';

const [dataDir, keysText, flushText, stopText, idleText] = process.argv.slice(2);
const keys = Number(keysText);
const flushEvents = Number(flushText);
const stopAfter = stopText === undefined ? Number.POSITIVE_INFINITY : Number(stopText);
const idleFlushMs = idleText === undefined ? 2_000 : Number(idleText);

async function main(): Promise<void> {
  const engine = await Engine.open({ dataDir: dataDir!, retentionIntervalMs: 0, fsync: 'always', segmentSizeBytes: 256 * 1024, keyIndex: { flushEvents, memtableEvents: 4 * flushEvents, idleFlushMs } });
  if (!engine.listStreams().some((s) => s.name === 's')) await engine.createStream('s');
  process.stdout.write('{"ready":true}\n');
  let n = 0;
  const writer = async (w: number): Promise<void> => {
    while (n < stopAfter) {
      const key = `k${(n++ * 7 + w) % keys}`;
      const size = 1 + (n % 5);
      const events = Array.from({ length: size }, (_, i) => ({ payload: Buffer.from(JSON.stringify({ key, i })) }));
      const r = await engine.appendEvents('s', events, { key });
      const last = r.events[r.events.length - 1]!;
      process.stdout.write(`${JSON.stringify({ key, version: last.version, offset: last.offset })}\n`);
    }
  };
  await Promise.all([0, 1, 2, 3].map(writer));
  process.stdout.write('{"idle":true}\n');
  // Says when the idle memtable is written out (a run is adopted only once durable), so that a
  // parent killing the store then need not guess how long a loaded machine takes.
  const watch = setInterval(() => {
    if (engine.keyIndexStats('s').memtableEntries > 0) return;
    process.stdout.write('{"flushed":true}\n');
    clearInterval(watch);
  }, 10);
  setInterval(() => {}, 1000);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
