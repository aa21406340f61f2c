/**
 * `verifyDirectory` as a tool a cron job can rely on (issue 9, item 3): it counts what it
 * checked, data directories included; a path that is not a store or snapshot is a usage problem
 * (NOT_A_STORE), not damage; and it refuses a store a running process has open (LOCKED), whose
 * unsynced writes would look like damage.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { nodeIO, verifyDirectory } from '../../src/storage/index.js';
import { appendEach, openEngine, payload } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

async function storeWithData(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dataDir = tempDir(t, 'verify-store');
  const engine = await openEngine(dataDir, { segmentSizeBytes: 4096 });
  for (const name of ['a', 'b']) {
    await engine.createStream(name);
    await appendEach(engine, name, Array.from({ length: 60 }, (_, i) => payload(`${name}${i}`, 100)));
  }
  await engine.consume('a', 'c', { maxEvents: 5 });
  await engine.close();
  return dataDir;
}

/** Every regular file under `dir` whose name verify checks (everything but LOCK and crc-checkpoint). */
function checkable(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d)) {
      const full = path.join(d, name);
      if (fs.statSync(full).isDirectory()) walk(full);
      else if (name !== 'LOCK' && name !== 'crc-checkpoint') out.push(full);
    }
  };
  walk(dir);
  return out;
}

t.test('a data directory: every file checked is counted', async (t) => {
  const dataDir = await storeWithData(t);
  const report = verifyDirectory(nodeIO, dataDir);
  t.ok(report.ok, 'sound');
  t.ok(report.segments >= 4, `${report.segments} segments`);
  t.equal(report.files, checkable(dataDir).length, `the catalog, every log and index, the journal: ${report.files} files`);
  t.equal(report.files, 1 + 2 * report.segments + 1, 'catalog + segments + one consumer journal');
});

t.test('a snapshot: the manifest and every file it lists are counted once', async (t) => {
  const dataDir = await storeWithData(t);
  const engine = await openEngine(dataDir);
  const snapshot = await engine.snapshot(tempDir(t, 'verify-snapshots'));
  await engine.close();
  const report = verifyDirectory(nodeIO, snapshot.path);
  t.ok(report.ok);
  t.equal(report.kind, 'snapshot');
  t.equal(report.files, checkable(snapshot.path).length, `${report.files} files, MANIFEST included`);
});

t.test('events below a truncation point are not counted as the store\'s events (the snapshot\'s count), but as truncated', async (t) => {
  const dataDir = await storeWithData(t);
  const engine = await openEngine(dataDir);
  // 5 events of a segment that stays on disk (it also holds offsets above 5).
  await engine.truncate('a', 5);
  const snapshot = await engine.snapshot(tempDir(t, 'verify-truncated'));
  await engine.close();
  for (const dir of [dataDir, snapshot.path]) {
    const report = verifyDirectory(nodeIO, dir);
    t.ok(report.ok);
    t.equal(report.events, snapshot.events, `${report.kind}: the events the snapshot counted (${snapshot.events})`);
    t.equal(report.events, 115, 'both streams\' 60 events less the 5 truncated');
    t.equal(report.truncatedEvents, 5, 'the truncated records, still on disk, counted apart');
  }
});

t.test('a wrong path is a usage problem with its own code, not damage', async (t) => {
  const root = tempDir(t, 'verify-paths');
  t.throws(() => verifyDirectory(nodeIO, path.join(root, 'typo')), { code: 'NOT_A_STORE', message: /there is nothing at/ });
  fs.writeFileSync(path.join(root, 'file'), 'x');
  t.throws(() => verifyDirectory(nodeIO, path.join(root, 'file')), { code: 'NOT_A_STORE', message: /is a file/ });
  fs.mkdirSync(path.join(root, 'empty'));
  t.throws(() => verifyDirectory(nodeIO, path.join(root, 'empty')), { code: 'NOT_A_STORE', message: /neither an eventbus data directory nor a snapshot/ });
  fs.mkdirSync(path.join(root, 'yaml'));
  fs.writeFileSync(path.join(root, 'yaml', 'a.yaml'), 'a: 1\n');
  t.throws(() => verifyDirectory(nodeIO, path.join(root, 'yaml')), { code: 'NOT_A_STORE' });
});

t.test('a store a running process has open is refused; once closed it verifies', async (t) => {
  const dataDir = await storeWithData(t);
  const engine = await openEngine(dataDir);
  t.throws(() => verifyDirectory(nodeIO, dataDir), { code: 'LOCKED', message: new RegExp(`in use by process ${process.pid}: verify a snapshot of it`) });
  await engine.close();
  t.ok(verifyDirectory(nodeIO, dataDir).ok);
});

t.test('a store held by another running process is refused; a LOCK whose process is gone is a note', async (t) => {
  const dataDir = await storeWithData(t);
  const lock = path.join(dataDir, 'LOCK');
  // The LOCK a running process (our parent) would write: pid, boot id, start time.
  const stat = fs.readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
  const startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  fs.writeFileSync(lock, `${process.ppid}\n${bootId}\n${startTicks}\n`);
  t.throws(() => verifyDirectory(nodeIO, dataDir), { code: 'LOCKED', message: new RegExp(`in use by process ${process.ppid}`) });
  fs.writeFileSync(lock, 'left by a process that died\n');
  // Beside the clean close's checkpoint, the LOCK of an open killed before it took any write.
  const interrupted = verifyDirectory(nodeIO, dataDir);
  t.ok(interrupted.notes.some((n) => n.file === lock && /an open of the store stopped before it took any write/.test(n.message)), 'an interrupted open is said');
  fs.rmSync(path.join(dataDir, 'crc-checkpoint'), { force: true });
  const report = verifyDirectory(nodeIO, dataDir);
  t.ok(report.ok, 'a crash is not damage');
  t.ok(report.notes.some((n) => n.file === lock && /not closed cleanly/.test(n.message)), 'but it is said');
});
