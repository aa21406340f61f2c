/**
 * The key index across an open (issue 13's cold keyed reads): a clean close writes the memtable
 * out, so the next open has no log to replay and answers keyed reads from its runs at once; after
 * a real kill -9 the tail past the newest run is rebuilt from the log, and no keyed read, made
 * right after the open (before the background load has run) or after it, ever misses an event:
 * every answer equals the one computed by scanning the stream.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Engine } from '../../src/storage/index.js';
import { openEngine, readAll } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

const CHILD = fileURLToPath(new URL('../helpers/keyed-writer-child.js', import.meta.url));
const body = (text: string) => Buffer.from(JSON.stringify(text));
t.setTimeout(120_000);

/** Each key's offsets in version order, by scanning the stream (the reference). */
function scanKeys(engine: Engine): Map<string, number[]> {
  const keys = new Map<string, number[]>();
  for (const event of readAll(engine, 's', 0, 10_000)) {
    const key = event.attributes?.key;
    if (key === undefined) continue;
    const offsets = keys.get(key) ?? [];
    if (event.attributes!.version !== offsets.length) throw new Error(`${key}: version ${event.attributes!.version} at offset ${event.offset}, expected ${offsets.length}`);
    offsets.push(event.offset);
    keys.set(key, offsets);
  }
  return keys;
}

/** Problems where the key index's answers differ from the scan's. */
function compare(engine: Engine, reference: Map<string, number[]>, names: readonly string[]): string[] {
  const problems: string[] = [];
  for (const key of names) {
    const offsets = reference.get(key) ?? [];
    const found = engine.keyOffsets('s', key, 0, { limit: 1_000_000 }).map((e) => e.offset);
    if (found.join() !== offsets.join()) problems.push(`${key}: index ${found.length} offsets [${found.slice(-3)}], scan ${offsets.length} [${offsets.slice(-3)}]`);
    const newest = engine.keyVersion('s', key);
    if (newest.version !== offsets.length - 1 || newest.offset !== (offsets.at(-1) ?? -1)) problems.push(`${key}: newest ${JSON.stringify(newest)}, scan ${offsets.length - 1}/${offsets.at(-1)}`);
  }
  return problems;
}

t.test('a clean close writes the memtable out: the next open replays nothing and reads by key at once', async (t) => {
  const dataDir = tempDir(t, 'key-close');
  const options = { fsync: 'never' as const, keyIndex: { flushEvents: 64, memtableEvents: 256 } };
  let engine = await openEngine(dataDir, options);
  await engine.createStream('s');
  for (let round = 0; round < 150; round++) {
    await engine.appendEvents('s', [{ payload: body(`a${round}`) }, { payload: body(`b${round}`) }], { key: `k${round % 13}` });
    if (round % 40 === 0) await engine.append('s', body('keyless'));
  }
  t.ok(engine.keyIndexStats('s').memtableEntries > 0, 'entries wait in the memtable before the close');
  await engine.close();
  engine = await openEngine(dataDir, options);
  t.teardown(() => engine.close());
  const stats = engine.keyIndexStats('s');
  t.equal(stats.memtableEntries, 0, 'nothing replayed into the memtable at the open');
  t.equal(stats.runEntries, 300, 'every keyed event is in a run');
  const keys = Array.from({ length: 13 }, (_, k) => `k${k}`);
  const reference = scanKeys(engine);
  t.same(compare(engine, reference, [...keys, 'never-written']), [], 'every key read through the index equals the scan');
  t.equal(engine.keyIndexStats('s').memtableEntries, 0, 'the reads needed no replay');
  const r = await engine.appendEvents('s', [{ payload: body('next') }], { key: 'k3', expectedVersion: engine.keyVersion('s', 'k3').version });
  t.equal(r.events[0]!.version, reference.get('k3')!.length, 'versions continue from the runs');
});

t.test('a memtable left idle is written out, so kill -9 of an idle store leaves nothing to replay', async (t) => {
  const dataDir = tempDir(t, 'key-idle');
  const child = spawn(process.execPath, [CHILD, dataDir, '7', '1024', '60', '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  // The child says when its idle memtable is written out; killed after 10 s if it never is (and
  // the open below then finds entries to replay).
  const giveUp = new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref());
  await Promise.race([giveUp, new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.includes('"flushed":true')) resolve();
  }))]);
  t.match(output, /"idle":true/, 'the child went idle');
  child.kill('SIGKILL');
  await exited;
  const engine = await openEngine(dataDir, { fsync: 'always', keyIndex: { flushEvents: 1024, memtableEvents: 4096 } });
  t.teardown(() => engine.close());
  const stats = engine.keyIndexStats('s');
  t.equal(stats.memtableEntries, 0, 'nothing replayed at the open');
  const reference = scanKeys(engine);
  t.equal(stats.runEntries, [...reference.values()].reduce((sum, offsets) => sum + offsets.length, 0), 'every keyed event was in a run before the kill');
  t.same(compare(engine, reference, Array.from({ length: 7 }, (_, k) => `k${k}`)), [], 'every key right after the kill');
  t.equal(engine.keyIndexStats('s').memtableEntries, 0, 'the reads replayed nothing');
});

t.test('after kill -9 the tail past the newest run is rebuilt: reads by key right at the open and after miss nothing', async (t) => {
  const dataDir = tempDir(t, 'key-kill9');
  const KEYS = 40;
  const FLUSH = 128;
  for (let cycle = 0; cycle < 3; cycle++) {
    const child = spawn(process.execPath, [CHILD, dataDir, String(KEYS), String(FLUSH)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged = new Map<string, number>();
    let lines = 0;
    const killed = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let pending = '';
    const enough = new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        const parts = pending.split('\n');
        pending = parts.pop()!;
        for (const part of parts) {
          const line = JSON.parse(part) as { key?: string; version?: number };
          if (line.key === undefined) continue;
          acknowledged.set(line.key, Math.max(acknowledged.get(line.key) ?? -1, line.version!));
          // Past a few flushes, and at a moment that differs by cycle (within a flush's stretch).
          if (++lines === 400 + cycle * 37) resolve();
        }
      });
    });
    await enough;
    child.kill('SIGKILL');
    await killed;
    const engine = await openEngine(dataDir, { fsync: 'always', keyIndex: { flushEvents: FLUSH, memtableEvents: 4 * FLUSH } });
    const names = Array.from({ length: KEYS }, (_, k) => `k${k}`);
    // At once: before the background load has finished (or begun) its replay of the tail.
    const early = names.map((key) => ({ key, version: engine.keyVersion('s', key).version }));
    const reference = scanKeys(engine);
    for (const { key, version } of early) {
      if (version !== (reference.get(key)?.length ?? 0) - 1) t.fail(`cycle ${cycle}: ${key} at version ${version} right after the open, the scan says ${(reference.get(key)?.length ?? 0) - 1}`);
      if (version < (acknowledged.get(key) ?? -1)) t.fail(`cycle ${cycle}: ${key} lost acknowledged version ${acknowledged.get(key)}`);
    }
    t.same(compare(engine, reference, [...names, 'never-written']), [], `cycle ${cycle}: right after the open every key read through the index equals the scan`);
    await engine.keyIndexIdle();
    t.same(compare(engine, reference, names), [], `cycle ${cycle}: after the load, too`);
    t.ok(engine.keyIndexStats('s').runs >= 1, `cycle ${cycle}: runs on disk (${JSON.stringify(engine.keyIndexStats('s'))})`);
    if (cycle < 2) {
      // The next cycle's crash leaves the tail of a store that was opened after a crash.
      const r = await engine.appendEvents('s', [{ payload: body('after') }], { key: 'k0', expectedVersion: (reference.get('k0')?.length ?? 0) - 1 });
      t.equal(r.events[0]!.version, reference.get('k0')!.length, `cycle ${cycle}: versions continue after the crash`);
    }
    await engine.close();
  }
});
