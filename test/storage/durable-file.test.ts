/**
 * The machinery every durable file shares (src/storage/fs/durable-file.ts, durable-writer.ts):
 * a descriptor is never closed under a running fsync, a write is whole or an error naming the
 * file, and a writer acknowledges nothing that failed and refuses everything after a failure.
 */
import path from 'node:path';
import t from 'tap';
import { ErrorCodes, EventBusError } from '../../src/errors.js';
import { DurableFile } from '../../src/storage/fs/durable-file.js';
import { DurableWriter, UNSETTLED, type PendingChange } from '../../src/storage/fs/durable-writer.js';
import { GroupCommit, type SyncTarget } from '../../src/storage/fs/group-commit.js';
import { nodeIO, type FileIO } from '../../src/storage/fs/io.js';
import { silentLogger } from '../../src/storage/logger.js';
import { LongPolls } from '../../src/storage/long-polls.js';
import { tempDir } from '../helpers/temp-dir.js';

/** The real file system, with fsyncs that complete when the test says and closes recorded. */
function heldIO(): { io: FileIO; release(): void; closed: number[] } {
  const held: (() => void)[] = [];
  const closed: number[] = [];
  const io: FileIO = {
    ...nodeIO,
    close: (fd) => {
      closed.push(fd);
      nodeIO.close(fd);
    },
    datasync: (fd) => new Promise((resolve, reject) => held.push(() => nodeIO.datasync(fd).then(resolve, reject))),
  };
  return { io, closed, release: () => held.splice(0).forEach((go) => go()) };
}

t.test('closing a file while an fsync runs on it keeps the descriptor open until the fsync is done', async (t) => {
  const { io, release, closed } = heldIO();
  const file = DurableFile.open(io, path.join(tempDir(t, 'durable-file'), 'f'), 'wx+');
  file.write([Buffer.from('data')], 0, 'writing f');
  const syncing = file.sync();
  file.close();
  t.same(closed, [], 'not closed while the fsync runs');
  t.equal(file.isOpen, false, 'but closed for every later use');
  release();
  await syncing;
  t.same(closed, [file.fd], 'closed once the fsync completed');
  await file.sync();
  t.same(closed, [file.fd], 'a sync of a closed file has nothing to do');
});

t.test('a write that fails is an EventBusError naming what was written', async (t) => {
  const io: FileIO = { ...nodeIO, writev: () => 0 };
  const file = DurableFile.open(io, path.join(tempDir(t, 'durable-short'), 'f'), 'wx+');
  t.teardown(() => file.close());
  t.throws(() => file.write([Buffer.from('data')], 0, 'writing'), { code: 'IO_ERROR', message: /writing \S+\/f failed \(short write \(0 of 4 bytes\)\)/ });
});

t.test('a writer acknowledges a batch only once durable, rejects a failed one, then refuses', async (t) => {
  const groupCommit = new GroupCommit('always', 100, silentLogger);
  t.teardown(() => groupCommit.close());
  let failNext = false;
  const durable: number[][] = [];
  const target: SyncTarget = { name: 'f', sync: async () => {} };
  interface Change extends PendingChange<string> {
    n: number;
  }
  const change = (n: number): Change => ({ n, ...UNSETTLED });
  const writer = new DurableWriter<Change, string>(
    { groupCommit, logger: silentLogger },
    { writing: 'writing f', refuses: 'f refuses changes', failedMessage: 'f refuses changes until reopened', fields: {} },
    {
      write: () => {
        if (failNext) throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
        return [target];
      },
      durable: (batch) => durable.push(batch.map((c) => c.n)),
      result: (c) => `done ${c.n}`,
    },
  );
  const a = writer.enqueue(change(1));
  const b = writer.enqueue(change(2));
  t.same(durable, [], 'nothing is written before the flush');
  writer.flush(Date.now());
  t.same(await Promise.all([a, b]), ['done 1', 'done 2']);
  t.same(durable, [[1, 2]], 'one batch, durable once');
  failNext = true;
  const c = writer.enqueue(change(3));
  writer.flush(Date.now());
  await t.rejects(c, { code: 'DISK_FULL', message: /writing f failed \(ENOSPC\)/ });
  await t.rejects(writer.enqueue(change(4)), { code: 'DISK_FULL', message: /f refuses changes until reopened after an earlier failure/ });
  writer.close(new EventBusError(ErrorCodes.CLOSED, 'closed'));
  await t.rejects(writer.enqueue(change(5)), { code: 'DISK_FULL' }, 'the failure is reported before the close');
  await writer.idle();
});

t.test('long-polls: a wake resolves the waits whose condition holds; end answers all at once; cancel ends them', async (t) => {
  const polls = new LongPolls();
  let visible = 0;
  const reader = polls.wait(5000, () => visible > 2);
  const consumer = polls.wait(5000);
  visible = 1;
  polls.wake();
  t.equal(await consumer, true, 'a wait without a condition resolves on any wake');
  visible = 3;
  polls.wake();
  t.equal(await reader, true, 'a wait with one, once it holds');
  const timed = Date.now();
  t.equal(await polls.wait(30, () => false), false, 'false after the timeout');
  t.ok(Date.now() - timed >= 25);
  const cancelled = polls.wait(5000, () => true);
  polls.cancel();
  t.equal(await cancelled, false, 'cancel resolves with false (the stream is gone)');
  const ending = polls.wait(5000, () => false);
  polls.end();
  t.equal(await ending, false, 'end answers at once, with the condition');
  t.equal(await polls.wait(5000, () => true), true, 'and later waits do not wait');
});
