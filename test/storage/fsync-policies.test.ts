/**
 * The fsync policies across segment rolls: whatever the policy, appends keep working when the
 * active segment is sealed and a new one started, sealed segments are fsynced (by the next round
 * under `always`, by the timer under `interval`, by close under `never`), and close succeeds.
 */
import t from 'tap';
import type { FsyncPolicy } from '../../src/storage/fs/group-commit.js';
import { CountingIO } from '../helpers/counting-io.js';
import { openEngine, payload, readAll, segmentFiles, sleep, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';
import type { FileIO } from '../../src/storage/fs/io.js';

/**
 * Under `interval` and `never` a commit resolves before any fsync ran; a segment sealed by a roll
 * must still get fsynced (by the timer, or at close) even though its files may be closed by then.
 */

/** Datasyncs per file, recorded by wrapping a CountingIO's datasync. */
class SyncLog extends CountingIO {
  readonly synced = new Map<string, number>();
  private readonly paths = new Map<number, string>();
  override open(file: string, mode: Parameters<FileIO['open']>[1]): number {
    const fd = super.open(file, mode);
    this.paths.set(fd, file);
    return fd;
  }
  override datasync(fd: number): Promise<void> {
    const file = this.paths.get(fd) ?? `fd ${fd}`;
    return super.datasync(fd).then(() => void this.synced.set(file, (this.synced.get(file) ?? 0) + 1));
  }
}

async function rollingWorkload(t: TapTest, fsync: FsyncPolicy) {
  const dataDir = tempDir(t, `policy-${fsync}`);
  const io = new SyncLog();
  const engine = await openEngine(dataDir, { io, fsync, fsyncIntervalMs: 5, segmentSizeBytes: 1024 });
  await engine.createStream('s');
  const payloads: Buffer[] = [];
  const rejected: string[] = [];
  for (let i = 0; i < 60; i++) {
    const p = payload(`e${i}`, 90);
    payloads.push(p);
    await engine.append('s', p).catch((error: { code?: string; message?: string }) => void rejected.push(`${i}: ${error.code} ${error.message}`));
    if (i % 10 === 9) await sleep(15); // let the interval timer run between rolls
  }
  const dir = streamDir(engine, 's');
  return { dataDir, io, engine, payloads, rejected, dir };
}

t.test('always: appends across rolls resolve only after the sealed segment is fsynced', async (t) => {
  const { io, engine, payloads, rejected, dir, dataDir } = await rollingWorkload(t, 'always');
  t.same(rejected, [], 'no append rejected');
  const segments = segmentFiles(dir);
  t.ok(segments.length >= 4, `${segments.length} segments`);
  // The last seal may still be finishing (its index fsync runs after the appends that rolled).
  await until(() => segments.slice(0, -1).every((s) => (io.synced.get(s.index) ?? 0) > 0), 5_000);
  for (const s of segments.slice(0, -1)) {
    t.ok((io.synced.get(s.log) ?? 0) > 0 && (io.synced.get(s.index) ?? 0) > 0, `sealed ${s.base}: log and index fsynced`);
  }
  await engine.close();
  const again = await openEngine(dataDir, { segmentSizeBytes: 1024 });
  t.equal(readAll(again, 's').length, payloads.length);
  await again.close();
});

for (const fsync of ['interval', 'never'] as const) {
  t.test(`${fsync}: appends keep working across rolls, sealed segments get fsynced, close succeeds`, async (t) => {
    const { io, engine, payloads, rejected, dir, dataDir } = await rollingWorkload(t, fsync);
    t.same(rejected, [], 'no append rejected');
    const segments = segmentFiles(dir);
    t.ok(segments.length >= 4, `${segments.length} segments`);
    if (fsync === 'interval') {
      // The timer fsyncs every 5 ms; on a loaded machine a round may come late.
      await until(() => segments.slice(0, -1).every((s) => (io.synced.get(s.log) ?? 0) > 0 && (io.synced.get(s.index) ?? 0) > 0), 5_000);
      for (const s of segments.slice(0, -1)) {
        t.ok((io.synced.get(s.log) ?? 0) > 0 && (io.synced.get(s.index) ?? 0) > 0, `sealed ${s.base}: fsynced by the timer`);
      }
    }
    let closeError: unknown = null;
    await engine.close().catch((error: unknown) => (closeError = error));
    t.equal(closeError, null, 'close succeeds');
    for (const s of segments) {
      t.ok((io.synced.get(s.log) ?? 0) > 0, `segment ${s.base}: log fsynced by the time close returns`);
    }
    const again = await openEngine(dataDir, { segmentSizeBytes: 1024 });
    t.equal(readAll(again, 's').length, payloads.length, 'everything is there after reopen');
    t.same(again.stats('s').damage, []);
    await again.close();
  });
}
