/**
 * Group commit (group-commit.ts) with fake sync targets whose fsyncs the test completes by hand:
 * a commit is acknowledged only by a sync that began after it; writers that arrive while a sync
 * runs share the next one; a failed sync is never reported as success; one target's failure,
 * even a programming error, never strands the waiters of others. A writer alone (rounds of one
 * commit after a round of one) has its files fsynced on the main thread, the same way.
 */
import t from 'tap';
import { GroupCommit, INLINE_BACKOFF_MS, INLINE_SLOW_MS, type SyncTarget } from '../../src/storage/fs/group-commit.js';
import { silentLogger } from '../../src/storage/logger.js';

/** A target whose syncs wait until the test settles them. */
class FakeTarget implements SyncTarget {
  readonly pending: { resolve(): void; reject(error: unknown): void }[] = [];
  started = 0;
  failures: unknown[] = [];
  constructor(readonly name: string, readonly directory = false, private readonly log: string[] = []) {}

  sync(): Promise<void> {
    this.started += 1;
    this.log.push(`start ${this.name}`);
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  failed(error: unknown): void {
    this.failures.push(error);
  }

  complete(): void {
    const sync = this.pending.shift();
    if (sync === undefined) throw new Error(`test: no sync of ${this.name} is running`);
    this.log.push(`done ${this.name}`);
    sync.resolve();
  }

  fail(error: unknown): void {
    const sync = this.pending.shift();
    if (sync === undefined) throw new Error(`test: no sync of ${this.name} is running`);
    sync.reject(error);
  }
}

/** Lets queued microtasks and promise callbacks run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function tracked(promise: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } {
  const box: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  promise.then(() => (box.state = 'resolved'), (error: unknown) => {
    box.state = 'rejected';
    box.error = error;
  });
  return box;
}

t.test('always: a commit resolves only after a sync that began after it', async (t) => {
  const gc = new GroupCommit('always', 100, silentLogger);
  const file = new FakeTarget('file');
  const first = tracked(gc.commit([file]));
  await settle();
  t.equal(file.started, 1, 'one sync started');
  // Bytes written now were not covered by the sync already running.
  const second = tracked(gc.commit([file]));
  await settle();
  t.equal(file.started, 1, 'no second sync while one runs');
  file.complete();
  await settle();
  t.equal(first.state, 'resolved');
  t.equal(second.state, 'pending', 'the second waits for a sync that began after it');
  t.equal(file.started, 2, 'the next round started');
  file.complete();
  await settle();
  t.equal(second.state, 'resolved');
});

t.test('always: commits that arrive during a sync share the next one', async (t) => {
  const gc = new GroupCommit('always', 100, silentLogger);
  const a = new FakeTarget('a');
  const b = new FakeTarget('b');
  const first = tracked(gc.commit([a]));
  await settle();
  const later = Array.from({ length: 50 }, (_, i) => tracked(gc.commit([i % 2 === 0 ? a : b])));
  await settle();
  a.complete();
  await settle();
  t.equal(first.state, 'resolved');
  t.equal(a.started + b.started, 3, 'one more sync per target for 50 commits');
  a.complete();
  b.complete();
  await settle();
  t.ok(later.every((c) => c.state === 'resolved'), 'all 50 resolved');
  t.same({ rounds: gc.stats.rounds, syncs: gc.stats.syncs, commits: gc.stats.commits }, { rounds: 2, syncs: 3, commits: 51 });
});

t.test('always: a failed sync rejects the commits on that target only, and tells its owner', async (t) => {
  const gc = new GroupCommit('always', 100, silentLogger);
  const bad = new FakeTarget('/data/bad.log');
  const good = new FakeTarget('/data/good.log');
  const onBad = tracked(gc.commit([bad]));
  const onBoth = tracked(gc.commit([good, bad]));
  const onGood = tracked(gc.commit([good]));
  await settle();
  bad.fail(Object.assign(new Error('EIO'), { code: 'EIO' }));
  good.complete();
  await settle();
  t.equal(onBad.state, 'rejected');
  t.match(onBad.error, { code: 'IO_ERROR', reason: /fsync of \/data\/bad\.log failed \(EIO\)/ });
  t.equal(onBoth.state, 'rejected', 'a commit that needed the failed target too');
  t.equal(onGood.state, 'resolved');
  t.equal(bad.failures.length, 1, 'the failed hook was told');
  t.equal(good.failures.length, 0);
});

t.test('always: ENOSPC from a sync is DISK_FULL', async (t) => {
  const gc = new GroupCommit('always', 100, silentLogger);
  const target = new FakeTarget('f');
  const commit = tracked(gc.commit([target]));
  await settle();
  target.fail(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }));
  await settle();
  t.match(commit.error, { code: 'DISK_FULL' });
});

t.test('a target whose sync throws does not strand the waiters of other targets', async (t) => {
  const gc = new GroupCommit('always', 100, silentLogger);
  const good = new FakeTarget('good');
  const throwing: SyncTarget = {
    name: 'closed',
    sync() {
      throw new Error('file is closed');
    },
  };
  const onGood = tracked(gc.commit([good]));
  const onThrowing = tracked(gc.commit([throwing]));
  await settle();
  good.complete();
  await settle();
  t.equal(onGood.state, 'resolved', 'the other target resolved');
  t.equal(onThrowing.state, 'rejected', 'the throwing target rejected, not left hanging');
  // And the group commit keeps working.
  const next = tracked(gc.commit([good]));
  await settle();
  good.complete();
  await settle();
  t.equal(next.state, 'resolved');
});

t.test('a round syncs directories only after its files', async (t) => {
  const log: string[] = [];
  const gc = new GroupCommit('always', 100, silentLogger);
  const sealed = new FakeTarget('sealed.log', false, log);
  const active = new FakeTarget('active.log', false, log);
  const dir = new FakeTarget('dir', true, log);
  const commit = tracked(gc.commit([dir, sealed, active]));
  await settle();
  t.same(log, ['start sealed.log', 'start active.log'], 'files first, in parallel');
  sealed.complete();
  await settle();
  t.equal(dir.started, 0, 'not while a file sync runs');
  active.complete();
  await settle();
  t.equal(dir.started, 1, 'then the directory');
  dir.complete();
  await settle();
  t.equal(commit.state, 'resolved');
});

t.test('never: commits resolve at once and keep nothing; syncAll fsyncs what was touched', async (t) => {
  const gc = new GroupCommit('never', 100, silentLogger);
  const file = new FakeTarget('file');
  const commit = tracked(gc.commit([file]));
  await settle();
  t.equal(commit.state, 'resolved');
  t.equal(file.started, 0, 'nothing synced');
  const none = tracked(gc.syncAll());
  await settle();
  t.equal(none.state, 'resolved');
  t.equal(file.started, 0, 'a commit leaves nothing dirty (close touches what is open)');
  gc.touch([file]);
  const all = tracked(gc.syncAll());
  await settle();
  t.equal(file.started, 1);
  file.complete();
  await settle();
  t.equal(all.state, 'resolved');
  const again = tracked(gc.syncAll());
  await settle();
  t.equal(again.state, 'resolved', 'nothing dirty: nothing to do');
  t.equal(file.started, 1);
});

t.test('interval: commits resolve at once and dirty targets are fsynced on the timer', async (t) => {
  const gc = new GroupCommit('interval', 5, silentLogger);
  t.teardown(() => gc.close());
  const file = new FakeTarget('file');
  const commit = tracked(gc.commit([file]));
  await settle();
  t.equal(commit.state, 'resolved');
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(file.started, 1, 'synced by the timer');
  file.complete();
  await settle();
  // A failure on the timer is reported to the target's owner.
  gc.touch([file]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  file.fail(Object.assign(new Error('EIO'), { code: 'EIO' }));
  await settle();
  t.equal(file.failures.length, 1, 'failure reported through the hook');
});

/** A target that can also sync on the calling thread, taking `syncNowMs` (busy) and failing with `nowError` if set; false when `closed`. */
class InlineTarget extends FakeTarget {
  inlineSyncs = 0;
  syncNowMs = 0;
  closed = false;
  nowError: unknown = null;

  syncNow(): boolean {
    if (this.closed) return false;
    this.inlineSyncs += 1;
    const until = performance.now() + this.syncNowMs;
    while (performance.now() < until);
    if (this.nowError !== null) throw this.nowError;
    return true;
  }
}

t.test('one writer at a time: its fsyncs run on the main thread, and its commit resolves only after', async (t) => {
  const gc = new GroupCommit('always', 100, silentLogger);
  const file = new InlineTarget('file');
  for (let i = 1; i <= 3; i++) {
    const commit = tracked(gc.commit([file]));
    t.equal(commit.state, 'pending', 'not resolved by the call');
    await settle();
    t.equal(commit.state, 'resolved', `commit ${i} resolved`);
    t.equal(file.inlineSyncs, i, 'by an fsync on the main thread');
  }
  t.equal(file.started, 0, 'the thread pool was not used');
  t.equal(gc.stats.inlineRounds, 3);
  t.equal(gc.stats.syncs, 3);
});

t.test('with other writers waiting, and after a round of several, fsyncs go to the thread pool', async (t) => {
  const gc = new GroupCommit('always', 100, silentLogger);
  const file = new InlineTarget('file');
  const two = [tracked(gc.commit([file])), tracked(gc.commit([file]))];
  await settle();
  t.equal(file.started, 1, 'a round of two commits: one fsync in the pool');
  t.equal(file.inlineSyncs, 0);
  file.complete();
  await settle();
  t.ok(two.every((c) => c.state === 'resolved'));
  const next = tracked(gc.commit([file]));
  await settle();
  t.equal(file.started, 2, 'a round of one right after a round of two still uses the pool');
  file.complete();
  await settle();
  t.equal(next.state, 'resolved');
  const alone = tracked(gc.commit([file]));
  await settle();
  t.equal(alone.state, 'resolved', 'a round of one after a round of one runs inline');
  t.equal(file.inlineSyncs, 1);
});

t.test('a closed file, or a directory, in a small round is synced in the thread pool', async (t) => {
  const gc = new GroupCommit('always', 100, silentLogger);
  const file = new InlineTarget('file');
  file.closed = true;
  const closed = tracked(gc.commit([file]));
  await settle();
  t.equal(file.started, 1, 'the closed file went to the pool');
  t.equal(closed.state, 'pending', 'and its commit waits for it');
  file.complete();
  await settle();
  t.equal(closed.state, 'resolved');
  const open = new InlineTarget('open');
  const dir = new FakeTarget('dir', true);
  const withDir = tracked(gc.commit([open, dir]));
  await settle();
  t.equal(open.inlineSyncs, 1, 'the file inline');
  t.equal(dir.started, 1, 'the directory in the pool, after the file');
  dir.complete();
  await settle();
  t.equal(withDir.state, 'resolved');
});

t.test('a failed inline fsync rejects its commit and tells the target, as a pooled one does', async (t) => {
  const gc = new GroupCommit('always', 100, silentLogger);
  const file = new InlineTarget('file');
  file.nowError = Object.assign(new Error('EIO'), { code: 'EIO' });
  const commit = tracked(gc.commit([file]));
  await settle();
  t.equal(commit.state, 'rejected');
  t.match(commit.error, { code: 'IO_ERROR' });
  t.equal(file.failures.length, 1, 'the failed hook was told');
});

t.test('after a slow inline fsync, rounds go to the thread pool for a while', async (t) => {
  const gc = new GroupCommit('always', 100, silentLogger);
  const file = new InlineTarget('file');
  file.syncNowMs = INLINE_SLOW_MS + 1;
  const slow = tracked(gc.commit([file]));
  await settle();
  t.equal(slow.state, 'resolved');
  t.equal(file.inlineSyncs, 1, 'the slow fsync ran inline');
  file.syncNowMs = 0;
  const next = tracked(gc.commit([file]));
  await settle();
  t.equal(file.started, 1, `the next round went to the pool (for ${INLINE_BACKOFF_MS} ms)`);
  t.equal(file.inlineSyncs, 1);
  file.complete();
  await settle();
  t.equal(next.state, 'resolved');
});
