/**
 * `verifyDirectory` judges a store exactly as an open judges it (docs/operations.md): an index
 * that the open simply rebuilds from its log (missing, short, unsealed as a crash during a roll
 * leaves it, a bad header) is a note, not damage, after a crash and after a clean stop alike; and
 * a last segment whose log is gone after a clean stop, the offsets it had given shown by its
 * index or the clean-close checkpoint, is damage to acknowledged events, as the open reports it
 * (segment-check.ts's findLostTail, shared by both). Each case is checked against the open.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { nodeIO, verifyDirectory, type VerifyReport } from '../../src/storage/index.js';
import { appendEach, openEngine, payload, recordPositions, segmentFiles, simulateCrash } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

type TapTest = Parameters<typeof tempDir>[0];

const EVENTS = 120;

/** A store stopped cleanly, stream "s" holding 120 events over several 4 KiB segments; its stream directory. */
async function cleanStore(t: TapTest): Promise<{ dataDir: string; dir: string }> {
  const dataDir = tempDir(t, 'verify-open');
  const engine = await openEngine(dataDir, { segmentSizeBytes: 4096 });
  await engine.createStream('s');
  await appendEach(engine, 's', Array.from({ length: EVENTS }, (_, i) => payload(`s${i}`, 100)));
  await engine.close();
  const dir = path.join(dataDir, 'streams', fs.readdirSync(path.join(dataDir, 'streams'))[0]!);
  return { dataDir, dir };
}

/**
 * What the open makes of the store: the damage get_stream_info lists, the events read back from
 * offset 0 up to the first that cannot be read, the next offset.
 */
async function opened(dataDir: string): Promise<{ damage: unknown[]; events: number; nextOffset: number }> {
  const engine = await openEngine(dataDir, { segmentSizeBytes: 4096 });
  try {
    const stats = engine.stats('s');
    let events = 0;
    try {
      for (let batch = engine.read('s', 0); batch.length > 0; batch = engine.read('s', events)) events += batch.length;
    } catch (error) {
      if ((error as { code?: string }).code !== 'CORRUPT_DATA') throw error;
    }
    return { damage: stats.damage, events, nextOffset: engine.bounds('s').nextOffset };
  } finally {
    await engine.close();
  }
}

const said = (report: VerifyReport) => JSON.stringify({ problems: report.problems, notes: report.notes });

t.test('an index the open rebuilds from its log is a note, after a crash and after a clean stop', async (t) => {
  const damages: [string, (files: ReturnType<typeof segmentFiles>) => void, RegExp][] = [
    ['a sealed index without its seal trailer (a crash during a roll)', (files) => fs.truncateSync(files[1]!.index, fs.statSync(files[1]!.index).size - 48), /index is \d+ bytes, expected \d+ \(rebuilt on open\)/],
    ['a sealed index missing', (files) => fs.rmSync(files[1]!.index), /index is missing \(rebuilt on open\)/],
    ['a sealed index with a bad header', (files) => fs.writeFileSync(files[1]!.index, Buffer.alloc(8)), /index short header \(8 bytes\) \(rebuilt on open\)/],
    ['the active index emptied', (files) => fs.truncateSync(files[files.length - 1]!.index, 0), /index short header \(0 bytes\) \(rebuilt on open\)/],
  ];
  for (const how of ['after a crash', 'after a clean stop'] as const) {
    for (const [what, damage, pattern] of damages) {
      const { dataDir, dir } = await cleanStore(t);
      const files = segmentFiles(dir);
      t.ok(files.length >= 3, `${files.length} segments`);
      if (how === 'after a crash') simulateCrash(dataDir);
      damage(files);
      const report = verifyDirectory(nodeIO, dataDir);
      t.ok(report.ok, `${how}, ${what}: not damage (${said(report)})`);
      t.ok(report.notes.some((n) => pattern.test(n.message)), `${how}, ${what}: said as a note`);
      t.equal(report.events, EVENTS, `${how}, ${what}: every event counted`);
      const open = await opened(dataDir);
      t.same(open, { damage: [], events: EVENTS, nextOffset: EVENTS }, `${how}, ${what}: the open agrees: no damage, every event read back`);
    }
  }
});

t.test('a last segment\'s log gone after a clean stop is damage, for verify as for the open', async (t) => {
  const setups: [string, (dataDir: string) => Promise<void>][] = [
    // After a crash, an open and a clean stop with no append: the checkpoint lists no stream.
    ['the checkpoint lists no stream', async (dataDir) => {
      simulateCrash(dataDir);
      await (await openEngine(dataDir, { segmentSizeBytes: 4096 })).close();
      t.match(JSON.parse(fs.readFileSync(path.join(dataDir, 'crc-checkpoint'), 'utf8').replace(/^[^{]*/, '')), { streams: {} });
    }],
    ['the checkpoint deleted', async (dataDir) => fs.rmSync(path.join(dataDir, 'crc-checkpoint'))],
  ];
  for (const [what, setup] of setups) {
    const { dataDir, dir } = await cleanStore(t);
    await setup(dataDir);
    const files = segmentFiles(dir);
    const last = files[files.length - 1]!;
    const held = EVENTS - last.base;
    t.ok(held > 0, `${what}: the last segment holds ${held} events`);
    fs.rmSync(last.log);
    const report = verifyDirectory(nodeIO, dataDir);
    t.notOk(report.ok, `${what}: damage (${said(report)})`);
    t.ok(report.problems.some((p) => p.file === last.log && p.message.includes(`is missing (its index is still there): the stream had given offsets ${last.base} to ${EVENTS - 1} (${held} events)`)), `${what}: names the file and the offsets lost`);
    t.notOk(report.notes.some((n) => n.file === last.index), `${what}: the index is not said to be removed (the open keeps it)`);
    t.equal(report.damagedEvents, held, `${what}: counted as damaged`);
    t.equal(report.events, last.base, `${what}: the events before it are readable`);
    const open = await opened(dataDir);
    t.equal(open.damage.length, 1, `${what}: the open lists the damage`);
    t.same({ events: open.events, nextOffset: open.nextOffset }, { events: last.base, nextOffset: EVENTS }, `${what}: the open reads what verify counts and gives no lost offset again`);
    const after = verifyDirectory(nodeIO, dataDir);
    t.notOk(after.ok, `${what}: after the open, still damage`);
    t.equal(after.damagedEvents, held, `${what}: the same offsets`);
  }
});

t.test('after a crash an index left without its log is a note, as the open removes it', async (t) => {
  const { dataDir, dir } = await cleanStore(t);
  simulateCrash(dataDir);
  const files = segmentFiles(dir);
  const last = files[files.length - 1]!;
  fs.rmSync(last.log);
  const report = verifyDirectory(nodeIO, dataDir);
  t.ok(report.ok, `not damage (${said(report)})`);
  t.ok(report.notes.some((n) => n.file === last.index && /an index without its log \(removed on open\)/.test(n.message)));
  const open = await opened(dataDir);
  t.same({ damage: open.damage, events: open.events }, { damage: [], events: last.base }, 'the open finds no damage (after a crash that index is no evidence)');
  t.ok(verifyDirectory(nodeIO, dataDir).ok, 'nor does verify after it');
});

t.test('after a crash a torn roll is a note, as the open cuts the stream back there without damage', async (t) => {
  // The segment `back` from the last ends short (its last record torn), its index unsealed (its
  // header and two entries durable): a power loss during a roll. The segments between it and the
  // last are unsealed too (their seals never reached the disk).
  for (const back of [2, 3]) {
    for (const how of ['after a crash', 'after a clean stop'] as const) {
      const what = `${how}, torn ${back} segments from the last`;
      const { dataDir, dir } = await cleanStore(t);
      if (how === 'after a crash') simulateCrash(dataDir);
      const files = segmentFiles(dir);
      t.ok(files.length > back, `${what}: ${files.length} segments`);
      const short = files[files.length - 1 - back]!;
      for (const later of files.slice(files.length - back, files.length - 1)) fs.truncateSync(later.index, fs.statSync(later.index).size - 48);
      const records = recordPositions(short.log);
      fs.truncateSync(short.log, records[records.length - 1]!.position + 10);
      fs.truncateSync(short.index, 32 + 2 * 8);
      const kept = short.base + records.length - 1;
      const report = verifyDirectory(nodeIO, dataDir);
      const open = await opened(dataDir);
      if (how === 'after a clean stop') {
        // Nothing is torn by a clean stop: the records the short log lacks were acknowledged.
        t.notOk(report.ok, `${what}: damage (${said(report)})`);
        t.ok(open.damage.length > 0, `${what}: the open reports damage too`);
        continue;
      }
      t.ok(report.ok, `${what}: not damage (${said(report)})`);
      t.ok(report.notes.some((n) => n.file === short.log && /a segment roll torn by a crash .* the stream is cut back to this segment's end and the \d+ segment\(s\) after it/.test(n.message)), `${what}: said as a note on the short segment`);
      t.equal(report.notes.filter((n) => /removed on open/.test(n.message) && files.slice(files.length - back).some((f) => f.log === n.file)).length, back, `${what}: every later segment said to be removed`);
      t.equal(report.events, kept, `${what}: counts the events the open keeps`);
      t.same(open, { damage: [], events: kept, nextOffset: kept }, `${what}: the open agrees: no damage, every event before the cut read back, the stream goes on from there`);
      t.same(segmentFiles(dir).map((f) => f.base), files.slice(0, files.length - back).map((f) => f.base), `${what}: the open dropped the later segments`);
      t.ok(verifyDirectory(nodeIO, dataDir).ok, `${what}: verify after the open agrees`);
    }
  }
});

t.test('a sealed log whose preallocated end was never cut is a note, as the open cuts it without damage', async (t) => {
  // Sealing cuts the active log's preallocated zeros (log-file.ts) and appends the seal trailer to
  // the index: a kill between them leaves the seal on disk and the zeros after the records. The
  // open cuts them and rebuilds the index, reporting nothing, after a crash or a clean stop alike.
  for (const how of ['after a crash', 'after a clean stop'] as const) {
    const { dataDir, dir } = await cleanStore(t);
    if (how === 'after a crash') simulateCrash(dataDir);
    const sealed = segmentFiles(dir)[1]!;
    const size = fs.statSync(sealed.log).size;
    fs.appendFileSync(sealed.log, Buffer.alloc(1000));
    const report = verifyDirectory(nodeIO, dataDir);
    t.ok(report.ok, `${how}: not damage (${said(report)})`);
    t.ok(report.notes.some((n) => n.file === sealed.log && n.position === size && n.message.includes(`log is ${size + 1000} bytes, seal trailer says ${size}, with only zeros after that`) && /cut off on open/.test(n.message)), `${how}: said as a note`);
    t.equal(report.events, EVENTS, `${how}: every event counted`);
    const open = await opened(dataDir);
    t.same(open, { damage: [], events: EVENTS, nextOffset: EVENTS }, `${how}: the open agrees: no damage, every event read back`);
    t.equal(fs.statSync(sealed.log).size, size, `${how}: the open cut the zeros`);
    t.ok(verifyDirectory(nodeIO, dataDir).ok, `${how}: verify after the open agrees`);
  }
  // Bytes other than zeros there are nothing the store wrote.
  const { dataDir, dir } = await cleanStore(t);
  simulateCrash(dataDir);
  const sealed = segmentFiles(dir)[1]!;
  const size = fs.statSync(sealed.log).size;
  fs.appendFileSync(sealed.log, Buffer.alloc(1000, 7));
  const report = verifyDirectory(nodeIO, dataDir);
  t.notOk(report.ok, 'non-zero bytes past the sealed size: a problem');
  t.ok(report.problems.some((p) => p.message.includes(`log is ${size + 1000} bytes, seal trailer says ${size}`)), 'said as before');
});
