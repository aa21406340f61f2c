/**
 * The fault injector must fail exactly the operations asked for: the nth match, once or from
 * then on, only on matching paths, and nothing once cleared.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { FaultyIO } from 'eventbus/storage/testing';
import { tempDir } from '../helpers/temp-dir.js';

t.test('the nth matching operation fails once, with the errno asked for', async (t) => {
  const root = tempDir(t, 'faulty');
  const io = new FaultyIO();
  const fd = io.open(path.join(root, 'f'), 'wx+');
  const fault = io.inject({ op: 'writev', errno: 'ENOSPC', nth: 2 });
  t.equal(io.writev(fd, [Buffer.from('a')], 0), 1, 'first write passes');
  t.throws(() => io.writev(fd, [Buffer.from('b')], 1), { code: 'ENOSPC', syscall: 'write' }, 'second fails');
  t.equal(io.writev(fd, [Buffer.from('c')], 1), 1, 'third passes: the fault fired once');
  t.equal(fault.fired, 1);
  io.close(fd);
  t.equal(fs.readFileSync(path.join(root, 'f'), 'utf8'), 'ac', 'the failed write did not reach the disk');
});

t.test('a persistent fault fails every match until cleared, only on matching paths', async (t) => {
  const root = tempDir(t, 'faulty');
  const io = new FaultyIO();
  const log = io.open(path.join(root, 'a.log'), 'wx+');
  const other = io.open(path.join(root, 'a.index'), 'wx+');
  const fault = io.inject({ op: ['writev', 'datasync'], errno: 'EIO', path: /\.log$/, persistent: true });
  t.throws(() => io.writev(log, [Buffer.from('x')], 0), { code: 'EIO' });
  t.throws(() => io.writev(log, [Buffer.from('x')], 0), { code: 'EIO' });
  await t.rejects(io.datasync(log), { code: 'EIO' }, 'async operations reject');
  t.equal(io.writev(other, [Buffer.from('y')], 0), 1, 'other paths unaffected');
  fault.clear();
  t.equal(io.writev(log, [Buffer.from('x')], 0), 1, 'cleared');
  await io.datasync(log);
  io.close(log);
  io.close(other);
});

t.test('a partial write lands the bytes asked for, then fails', async (t) => {
  const root = tempDir(t, 'faulty');
  const io = new FaultyIO();
  const fd = io.open(path.join(root, 'f'), 'wx+');
  io.inject({ op: 'writev', errno: 'ENOSPC', partialBytes: 3 });
  t.throws(() => io.writev(fd, [Buffer.from('ab'), Buffer.from('cdef')], 0), { code: 'ENOSPC' });
  io.close(fd);
  t.equal(fs.readFileSync(path.join(root, 'f'), 'utf8'), 'abc');
});

t.test('directory operations match on their path', async (t) => {
  const root = tempDir(t, 'faulty');
  const io = new FaultyIO();
  io.inject({ op: 'mkdir', errno: 'EACCES', path: path.join(root, 'no') });
  t.throws(() => io.mkdir(path.join(root, 'no')), { code: 'EACCES' });
  io.mkdir(path.join(root, 'yes'));
  t.ok(fs.existsSync(path.join(root, 'yes')));
  io.inject({ op: 'syncDir', errno: 'EIO' });
  await t.rejects(io.syncDir(root), { code: 'EIO' });
  await io.syncDir(root);
});
