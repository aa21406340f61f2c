/**
 * What the engine opens as a store (issue 9, item 1): never a snapshot (a server would write
 * into it, and verify would then call the snapshot damaged), never a file, and, for offline
 * tools (`create: false`), nothing but an existing store. A refusal writes nothing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Engine } from '../../src/storage/index.js';
import { openEngine } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Every file under `dir` with a hash of its contents: what "nothing was written" compares. */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (relative: string) => {
    for (const name of fs.readdirSync(path.join(dir, relative))) {
      const child = path.join(relative, name);
      const full = path.join(dir, child);
      if (fs.statSync(full).isDirectory()) {
        out[`${child}/`] = 'dir';
        walk(child);
      } else out[child] = crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex');
    }
  };
  walk('');
  return out;
}

t.test('a snapshot is refused as a data directory, with a reason that says to restore it, and nothing is written', async (t) => {
  const dataDir = tempDir(t, 'dir-snapshot-src');
  const engine = await openEngine(dataDir);
  await engine.createStream('s');
  await engine.append('s', Buffer.from('{"a":1}'));
  const snapshot = await engine.snapshot(tempDir(t, 'dir-snapshot-out'));
  await engine.close();
  const before = contents(snapshot.path);
  await t.rejects(Engine.open({ dataDir: snapshot.path, retentionIntervalMs: 0 }), {
    code: 'NOT_A_STORE',
    message: /is a snapshot, not a data directory: make a data directory from it with `eventbus restore`/,
  });
  t.same(contents(snapshot.path), before, 'the snapshot is unchanged (no LOCK, no catalog rewrite, no streams directory)');
});

t.test('a file is refused as a data directory', async (t) => {
  const file = path.join(tempDir(t, 'dir-file'), 'data');
  fs.writeFileSync(file, 'not a directory');
  await t.rejects(Engine.open({ dataDir: file }), { code: 'NOT_A_STORE', message: /is a file, not a data directory/ });
});

t.test('with create: false, only an existing store opens; anything else is refused and left as it was', async (t) => {
  const root = tempDir(t, 'dir-no-create');
  const missing = path.join(root, 'missing');
  await t.rejects(Engine.open({ dataDir: missing, create: false }), { code: 'NOT_A_STORE', message: /there is no data directory at/ });
  t.notOk(fs.existsSync(missing), 'nothing was created');

  const empty = path.join(root, 'empty');
  fs.mkdirSync(empty);
  await t.rejects(Engine.open({ dataDir: empty, create: false }), { code: 'NOT_A_STORE', message: /is not an eventbus data directory/ });
  t.same(fs.readdirSync(empty), [], 'the empty directory stays empty');

  const yaml = path.join(root, 'configs');
  fs.mkdirSync(yaml);
  fs.writeFileSync(path.join(yaml, 'a.yaml'), 'a: 1\n');
  const before = contents(yaml);
  await t.rejects(Engine.open({ dataDir: yaml, create: false }), { code: 'NOT_A_STORE' });
  t.same(contents(yaml), before, 'a folder of other files is left exactly as it was');

  const store = path.join(root, 'store');
  await (await Engine.open({ dataDir: store, retentionIntervalMs: 0 })).close();
  const opened = await Engine.open({ dataDir: store, create: false, retentionIntervalMs: 0 });
  await opened.close();
  t.pass('an existing store opens');
});

t.test('a new store is recognisable as one at once: its catalog is written when it is created', async (t) => {
  const dataDir = path.join(tempDir(t, 'dir-new'), 'store');
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  t.ok(fs.existsSync(path.join(dataDir, 'catalog')), 'the catalog exists before any stream');
  await engine.close();
  await t.resolves(Engine.open({ dataDir, create: false, retentionIntervalMs: 0 }).then((e) => e.close()));
});

t.test('a non-empty directory that is no store is refused even with create (the default), and left as it was', async (t) => {
  const root = tempDir(t, 'dir-other');
  const yaml = path.join(root, 'configs');
  fs.mkdirSync(yaml);
  fs.writeFileSync(path.join(yaml, 'a.yaml'), 'a: 1\n');
  const before = contents(yaml);
  await t.rejects(Engine.open({ dataDir: yaml, retentionIntervalMs: 0 }), {
    code: 'NOT_A_STORE',
    message: new RegExp(`^${yaml} is not empty and is not an eventbus data directory`),
  });
  t.same(contents(yaml), before, 'no LOCK, catalog or streams/ written into it');
});

t.test('what a store is still created in or opened from: missing, empty, hidden files only, a mount point, a store, a store cut short while being created', async (t) => {
  const root = tempDir(t, 'dir-fine');
  const opens = async (dataDir: string, what: string) => {
    const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
    await engine.close();
    t.ok(fs.existsSync(path.join(dataDir, 'catalog')), `${what}: opened as a store`);
  };
  await opens(path.join(root, 'missing', 'data'), 'a missing directory (created)');
  fs.mkdirSync(path.join(root, 'empty'));
  await opens(path.join(root, 'empty'), 'an empty directory');
  fs.mkdirSync(path.join(root, 'hidden'));
  fs.writeFileSync(path.join(root, 'hidden', '.gitkeep'), '');
  fs.writeFileSync(path.join(root, 'hidden', '.DS_Store'), 'x');
  await opens(path.join(root, 'hidden'), 'a directory holding only hidden files');
  t.ok(fs.existsSync(path.join(root, 'hidden', '.gitkeep')), 'which are left alone');
  fs.mkdirSync(path.join(root, 'mount', 'lost+found'), { recursive: true });
  await opens(path.join(root, 'mount'), 'a mount point holding only lost+found');
  await opens(path.join(root, 'missing', 'data'), 'an existing store');
  // A crash while the first open wrote its LOCK: the LOCK is all there is (torn: empty).
  fs.mkdirSync(path.join(root, 'torn-lock'));
  fs.writeFileSync(path.join(root, 'torn-lock', 'LOCK'), '');
  await opens(path.join(root, 'torn-lock'), 'a store cut short while being created (a torn LOCK only)');
  // A crash while a later open took that LOCK over (renamed away, not yet removed).
  fs.mkdirSync(path.join(root, 'stale-lock'));
  fs.writeFileSync(path.join(root, 'stale-lock', 'LOCK.stale.4242'), '4242\nboot\n1\n');
  await opens(path.join(root, 'stale-lock'), 'a store cut short while its stale LOCK was taken over');
});
