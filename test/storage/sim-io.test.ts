/**
 * The simulated power loss must be exact, or the crash tests built on it prove nothing: exactly
 * what was fsynced survives (file bytes via datasync, directory entries via syncDir), and nothing
 * else; a sync that had not completed counts for nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { SimIO } from 'eventbus/storage/testing';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

function setup(t: TapTest) {
  const root = tempDir(t, 'sim-io');
  fs.writeFileSync(path.join(root, 'existing'), 'old contents');
  fs.mkdirSync(path.join(root, 'dir'));
  fs.writeFileSync(path.join(root, 'dir', 'inner'), 'inner contents');
  const sim = new SimIO({ root });
  const p = (...parts: string[]) => path.join(root, ...parts);
  const write = (file: string, text: string, position = 0) => {
    const fd = sim.open(file, 'r+');
    sim.writev(fd, [Buffer.from(text)], position);
    return fd;
  };
  return { root, sim, p, write };
}

t.test('what existed when the layer was created counts as durable', async (t) => {
  const { sim, p } = setup(t);
  sim.crash();
  t.equal(fs.readFileSync(p('existing'), 'utf8'), 'old contents');
  t.equal(fs.readFileSync(p('dir', 'inner'), 'utf8'), 'inner contents');
});

t.test('file bytes survive only if fsynced; a sync that had not completed counts for nothing', async (t) => {
  const { sim, p, write } = setup(t);
  const fd = write(p('existing'), ' appended', 12);
  await sim.datasync(fd);
  sim.writev(fd, [Buffer.from(' lost')], 21);
  sim.truncate(fd, 5); // unsynced truncate: undone
  const running = sim.datasync(fd); // begun, not completed
  sim.crash();
  await t.rejects(running, { code: 'EIO' }, 'the interrupted sync fails');
  t.equal(fs.readFileSync(p('existing'), 'utf8'), 'old contents appended');
});

t.test('an unsynced overwrite in place is reverted', async (t) => {
  const { sim, p, write } = setup(t);
  write(p('existing'), 'NEW');
  sim.crash();
  t.equal(fs.readFileSync(p('existing'), 'utf8'), 'old contents');
});

t.test('a created file exists after a crash only if its directory was fsynced; its bytes only if it was', async (t) => {
  for (const [dirSync, fileSync, expected] of [[false, true, null], [true, false, ''], [true, true, 'data']] as const) {
    const { sim, p, root } = setup(t);
    const fd = sim.open(p('new'), 'wx+');
    sim.writev(fd, [Buffer.from('data')], 0);
    if (fileSync) sim.datasyncNow(fd);
    if (dirSync) await sim.syncDir(root);
    sim.crash();
    t.equal(fs.existsSync(p('new')) ? fs.readFileSync(p('new'), 'utf8') : null, expected, `dir synced ${dirSync}, file synced ${fileSync}`);
  }
});

t.test('rename over a file: the old file comes back unless the directory was fsynced', async (t) => {
  for (const dirSync of [false, true]) {
    const { sim, p, root } = setup(t);
    const fd = sim.open(p('existing.tmp'), 'wx+');
    sim.writev(fd, [Buffer.from('replacement')], 0);
    sim.datasyncNow(fd);
    sim.close(fd);
    sim.rename(p('existing.tmp'), p('existing'));
    if (dirSync) sim.syncDirNow(root);
    sim.crash();
    t.equal(fs.readFileSync(p('existing'), 'utf8'), dirSync ? 'replacement' : 'old contents', `dir synced ${dirSync}`);
    t.equal(fs.existsSync(p('existing.tmp')), false, 'the temporary name is gone either way');
  }
});

t.test('a rename without the file fsynced first can leave an empty file (the ALICE bug)', async (t) => {
  const { sim, p, root } = setup(t);
  const fd = sim.open(p('existing.tmp'), 'wx+');
  sim.writev(fd, [Buffer.from('replacement')], 0);
  sim.close(fd);
  sim.rename(p('existing.tmp'), p('existing'));
  sim.syncDirNow(root);
  sim.crash();
  t.equal(fs.readFileSync(p('existing'), 'utf8'), '');
});

t.test('unlinks, mkdirs, removeTree and links are durable only with their directory fsync', async (t) => {
  const { sim, p } = setup(t);
  sim.unlink(p('existing'));
  sim.mkdir(p('made'));
  const fd = sim.open(p('made', 'file'), 'wx+');
  sim.datasyncNow(fd);
  sim.syncDirNow(p('made'));
  sim.removeTree(p('dir'));
  sim.crash();
  t.equal(fs.readFileSync(p('existing'), 'utf8'), 'old contents', 'unlink undone');
  t.notOk(fs.existsSync(p('made')), 'mkdir undone, with everything in it');
  t.equal(fs.readFileSync(p('dir', 'inner'), 'utf8'), 'inner contents', 'rm -r undone');
});

t.test('hard links: the new name is durable with its directory, and shares the file', async (t) => {
  const { sim, p, root } = setup(t);
  sim.link(p('dir', 'inner'), p('inner-link'));
  sim.syncDirNow(root);
  sim.unlink(p('dir', 'inner'));
  sim.syncDirNow(p('dir'));
  sim.crash();
  t.equal(fs.readFileSync(p('inner-link'), 'utf8'), 'inner contents');
  t.notOk(fs.existsSync(p('dir', 'inner')));
});

t.test('crashAtOp: the chosen operation and everything after fail with EIO', async (t) => {
  const root = tempDir(t, 'sim-io');
  const sim = new SimIO({ root, crashAtOp: 3 });
  const fd = sim.open(path.join(root, 'f'), 'wx+'); // 1
  sim.writev(fd, [Buffer.from('a')], 0); // 2
  t.throws(() => sim.writev(fd, [Buffer.from('b')], 1), { code: 'EIO' }, 'op 3 is the power loss');
  t.ok(sim.crashed);
  t.throws(() => sim.stat(root), { code: 'EIO' }, 'a dead machine does nothing');
  t.doesNotThrow(() => sim.close(fd), 'close is a no-op');
  t.same(fs.readdirSync(root), [], 'the unsynced file is gone');
});

t.test('torn mode keeps a prefix of each file\'s unsynced writes', async (t) => {
  for (let seed = 0; seed < 20; seed++) {
    const root = tempDir(t, 'sim-io');
    fs.writeFileSync(path.join(root, 'f'), 'base:');
    let state = seed + 1;
    const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const sim = new SimIO({ root, crashMode: 'torn', random });
    const fd = sim.open(path.join(root, 'f'), 'r+');
    for (const [i, word] of ['one ', 'two ', 'three '].entries()) sim.writev(fd, [Buffer.from(word)], 5 + [0, 4, 8][i]!);
    sim.crash();
    const survived = fs.readFileSync(path.join(root, 'f'), 'utf8');
    t.ok('base:one two three '.startsWith(survived) && survived.startsWith('base:'), `seed ${seed}: ${JSON.stringify(survived)} is a prefix`);
  }
});

t.test('ignoreDirSync: a layer that forgets directory fsyncs (for proving tests can fail)', async (t) => {
  const root = tempDir(t, 'sim-io');
  const sim = new SimIO({ root, ignoreDirSync: true });
  const fd = sim.open(path.join(root, 'f'), 'wx+');
  sim.datasyncNow(fd);
  sim.syncDirNow(root);
  sim.crash();
  t.same(fs.readdirSync(root), []);
});
