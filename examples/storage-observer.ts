import { Engine, type CommitRound } from 'eventbus/storage';

const engine = await Engine.open({
  dataDir: process.argv[2] ?? 'example-data',
  // Passed at open, an observer also sees the recovery of open (engine.recovery keeps the report).
  observer: {
    recovery: (r) => console.log(`opened after ${r.afterCrash ? 'a crash' : 'a clean close'}: ${r.totals.streams} stream(s), ${r.totals.tornBytesCut} torn bytes cut, ${r.durationMs.toFixed(1)} ms`),
  },
});
try {
  if (engine.getStream('metrics') === undefined) await engine.createStream('metrics');
  // Added later, removed by the function it returns: one call per group-commit round.
  const rounds: CommitRound[] = [];
  const stop = engine.observe({ commit: (round) => rounds.push(round) });
  await Promise.all(Array.from({ length: 100 }, (_, i) => engine.append('metrics', Buffer.from(`{"i":${i}}`))));
  stop();
  const events = rounds.reduce((sum, r) => sum + r.events, 0);
  const worstMs = Math.max(...rounds.map((r) => r.oldestWaitMs));
  console.log(`${events} events made durable in ${rounds.length} round(s) of fsyncs, the longest wait ${worstMs.toFixed(1)} ms`);
} finally {
  await engine.close();
}
