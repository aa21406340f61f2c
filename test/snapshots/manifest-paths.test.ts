/**
 * A MANIFEST's CRC shows it is whole, not who wrote it: a listing that names a path outside the
 * snapshot (`../`, absolute, `./` forms) must make verify report it and restore refuse it,
 * before either reads or writes anything outside the directories they were given.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { nodeIO, restoreSnapshot, verifyDirectory } from '../../src/storage/index.js';
import { crc32c } from '../../src/storage/format/crc.js';
import { encodeManifest, MANIFEST_FILE, readManifest, type Manifest } from '../../src/storage/tools/manifest.js';
import { openEngine, payload } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('a manifest listing a path outside the snapshot: verify reports it, restore refuses it, nothing outside is touched', async (t) => {
  const root = tempDir(t, 'manifest-paths');
  const engine = await openEngine(path.join(root, 'data'));
  await engine.createStream('s');
  await engine.appendMany('s', [payload('a', 50), payload('b', 50)]);
  const { path: snapshot } = await engine.snapshot(path.join(root, 'snaps'));
  await engine.close();
  const manifest = readManifest(nodeIO, snapshot) as Manifest;
  t.equal(typeof manifest, 'object', 'the snapshot as taken has a readable manifest');

  // A file beside the snapshot that an evil listing names.
  const outside = path.join(path.dirname(snapshot), 'outside.txt');
  const secret = Buffer.from('pwned\n');
  fs.writeFileSync(outside, secret);
  const evilPaths = ['../outside.txt', '../../x/outside.txt', '/etc/hostname', './catalog', 'streams//x', 'a/./b', ''];
  for (const [i, evil] of evilPaths.entries()) {
    const copy = path.join(path.dirname(snapshot), `copy-${i}`);
    fs.cpSync(snapshot, copy, { recursive: true });
    const listed = { ...manifest, files: [...manifest.files, { path: evil, size: secret.length, crc32c: crc32c(secret) }] };
    fs.writeFileSync(path.join(copy, MANIFEST_FILE), encodeManifest(listed));
    const report = verifyDirectory(nodeIO, copy);
    t.notOk(report.ok, `${JSON.stringify(evil)}: verify does not call it sound`);
    t.match(report.problems.map((p) => p.message).join('\n'), /manifest|not a plain relative path|no usable path/, `${JSON.stringify(evil)}: the problem is the manifest`);
    const target = path.join(root, `restored-${i}`, 'deep', 'data');
    t.throws(() => restoreSnapshot(nodeIO, copy, target), { code: 'SNAPSHOT_FAILED' }, `${JSON.stringify(evil)}: restore refuses`);
    t.notOk(fs.existsSync(path.join(root, `restored-${i}`, 'outside.txt')), `${JSON.stringify(evil)}: nothing written outside the target`);
    t.notOk(fs.existsSync(path.join(root, `restored-${i}`, 'deep', 'outside.txt')));
  }
  t.same(fs.readFileSync(outside), secret, 'the file outside is unchanged');
});
