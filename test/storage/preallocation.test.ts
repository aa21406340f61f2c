/**
 * EngineOptions.preallocateBytes: the active log grows ahead of its data in steps of that size
 * (the default, 1 MiB), or not at all with 0, the knob of the preallocation experiment
 * (docs/research.md). Either way the data reads back and a clean close leaves no zeros.
 */
import fs from 'node:fs';
import t from 'tap';
import { openEngine, readAll, segmentFiles, streamDir } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

for (const [label, preallocateBytes, grows] of [['default (1 MiB)', undefined, true], ['off', 0, false], ['64 KiB', 64 * 1024, true]] as const) {
  t.test(`preallocation ${label}`, async (t) => {
    const dataDir = tempDir(t, 'preallocation');
    const engine = await openEngine(dataDir, { segmentSizeBytes: 4 * 1024 * 1024, ...(preallocateBytes === undefined ? {} : { preallocateBytes }) });
    await engine.createStream('s');
    await engine.appendMany('s', Array.from({ length: 100 }, (_, i) => Buffer.from(`event ${i}`)));
    const active = segmentFiles(streamDir(engine, 's')).pop()!;
    const size = fs.statSync(active.log).size;
    if (grows) t.equal(size, preallocateBytes ?? 1024 * 1024, `the active log is one step long (${size} bytes)`);
    else t.ok(size < 8 * 1024, `the active log holds its data only (${size} bytes)`);
    await engine.close();
    t.ok(fs.statSync(active.log).size < 8 * 1024, 'a clean close cuts the preallocated end');
    const reopened = await openEngine(dataDir, { segmentSizeBytes: 4 * 1024 * 1024 });
    t.teardown(() => reopened.close());
    t.equal(readAll(reopened, 's').length, 100, 'every event reads back');
  });
}

t.test('a preallocation step outside 0..segmentSizeBytes is refused', async (t) => {
  for (const preallocateBytes of [-1, 1.5, 8192]) {
    await t.rejects(openEngine(tempDir(t, 'preallocation-bad'), { segmentSizeBytes: 4096, preallocateBytes }), { code: 'INVALID_FIELD' }, `${preallocateBytes}: INVALID_FIELD`);
  }
});
