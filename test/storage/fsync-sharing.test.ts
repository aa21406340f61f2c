/**
 * Group commit at the engine: under `always`, appends from many concurrent callers, on one stream
 * or many, share fsyncs. The fsyncs are counted twice, by the engine's commitStats and by an I/O
 * layer that counts real fdatasync calls, so the figure cannot be an artefact of the counter.
 */
import t from 'tap';
import type { Engine } from '../../src/storage/engine.js';
import { syncFreeIO } from '../../src/storage/testing/sync-free-io.js';
import { CountingIO } from '../helpers/counting-io.js';
import { openEngine, payload, readAll } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

/** fdatasync calls made, in the thread pool or on the main thread. */
const fdatasyncs = (io: CountingIO) => (io.calls.get('datasync') ?? 0) + (io.calls.get('datasyncNow') ?? 0);

/** Runs `writers` concurrent loops of `each` awaited appends over `streams`; returns fsync figures. */
async function concurrentAppends(engine: Engine, io: CountingIO, streams: string[], writers: number, each: number) {
  const syncsBefore = engine.commitStats.syncs;
  const roundsBefore = engine.commitStats.rounds;
  const inlineBefore = engine.commitStats.inlineRounds;
  const callsBefore = fdatasyncs(io);
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    const stream = streams[w % streams.length]!;
    for (let i = 0; i < each; i++) await engine.append(stream, payload(`w${w}-${i}`, 100));
  }));
  return {
    events: writers * each,
    syncs: engine.commitStats.syncs - syncsBefore,
    rounds: engine.commitStats.rounds - roundsBefore,
    datasyncCalls: fdatasyncs(io) - callsBefore,
    inlineRounds: engine.commitStats.inlineRounds - inlineBefore,
  };
}

t.test('64 concurrent appenders on one stream share fsyncs', async (t) => {
  const io = new CountingIO();
  const engine = await openEngine(tempDir(t), { io, segmentSizeBytes: 1 << 24 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const result = await concurrentAppends(engine, io, ['s'], 64, 40);
  const perFsync = result.events / result.syncs;
  t.equal(result.syncs, result.datasyncCalls, 'commitStats counts the real fdatasync calls');
  t.equal(result.inlineRounds, 0, 'with others waiting, fsyncs stay in the thread pool');
  t.ok(perFsync > 4, `${perFsync.toFixed(1)} events per fsync (${result.events} events, ${result.syncs} fsyncs)`);
  t.equal(readAll(engine, 's').length, result.events, 'every event stored');
});

t.test('appends to several streams share sync rounds', async (t) => {
  const io = new CountingIO();
  const engine = await openEngine(tempDir(t), { io, segmentSizeBytes: 1 << 24 });
  t.teardown(() => engine.close());
  const streams = ['a', 'b', 'c', 'd'];
  for (const s of streams) await engine.createStream(s);
  const result = await concurrentAppends(engine, io, streams, 64, 25);
  t.equal(result.syncs, result.datasyncCalls, 'commitStats counts the real fdatasync calls');
  t.ok(result.events / result.rounds > 8, `${(result.events / result.rounds).toFixed(1)} events per round across 4 streams`);
  t.ok(result.syncs / result.rounds <= streams.length, 'a round costs at most one fsync per stream');
});

t.test('one appender waiting for each append pays one fsync per event (the counter is honest)', async (t) => {
  // Fsyncs that cost nothing: one over INLINE_SLOW_MS (a slow disk's tail, a descheduled
  // process) would rightly send the next rounds to the thread pool and make the count vary.
  const io = new CountingIO(syncFreeIO());
  const engine = await openEngine(tempDir(t), { io, segmentSizeBytes: 1 << 24 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const result = await concurrentAppends(engine, io, ['s'], 1, 50);
  t.equal(result.syncs, 50, 'nothing to share: one fsync per append');
  t.equal(result.datasyncCalls, 50);
  t.equal(result.inlineRounds, 50, 'each on the main thread: nobody else was waiting');
});

t.test('under never and interval, appends do not wait for fsyncs', async (t) => {
  for (const fsync of ['never', 'interval'] as const) {
    const io = new CountingIO();
    const engine = await openEngine(tempDir(t), { io, fsync, fsyncIntervalMs: 60_000, segmentSizeBytes: 1 << 24 });
    await engine.createStream('s');
    const result = await concurrentAppends(engine, io, ['s'], 8, 50);
    t.equal(result.datasyncCalls, 0, `${fsync}: no fsync on the append path`);
    await engine.close();
    t.ok(fdatasyncs(io) > 0, `${fsync}: close fsyncs what was written`);
  }
});
