/**
 * Loaded with `node --import` into a real `eventbus restore` process by the restore crash test
 * (test/snapshots/restore-crash.test.ts): it stops the process at one exact step, the link that
 * creates its RESTORING marker. Before that link it writes CRASH_DIR/ready and waits (up to 30 s)
 * for CRASH_DIR/go, so that the test can finish another restore into the same target meanwhile;
 * right after the link it kills itself (SIGKILL: nothing after it runs, as on a kill -9 or a
 * power loss once the link is on disk). Test-only.
 */
import fs from 'node:fs';
import path from 'node:path';

const crashDir = process.env.CRASH_DIR ?? '';
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const realLinkSync = fs.linkSync.bind(fs);
const patched = fs as unknown as Record<string, unknown>;
patched.linkSync = (from: fs.PathLike, to: fs.PathLike) => {
  if (crashDir === '' || path.basename(String(to)) !== 'RESTORING') return realLinkSync(from, to);
  fs.writeFileSync(path.join(crashDir, 'ready'), '');
  const deadlineMs = Date.now() + 30_000;
  while (!fs.existsSync(path.join(crashDir, 'go')) && Date.now() < deadlineMs) Atomics.wait(sleeper, 0, 0, 5);
  realLinkSync(from, to);
  process.kill(process.pid, 'SIGKILL');
};
