/**
 * Two `eventbus restore` processes (the real command) into one target at once: exactly one
 * restores, the other is refused in one line (75: a restore into it is running; or, when it
 * looked after the first had finished, no longer empty), and the result is a store that verifies
 * with the snapshot's events. Both look at the target at the same moment and their steps on the
 * RESTORING marker are slowed down at random (helpers/restore-race-preload.ts), so that the
 * interleavings a loaded machine produces come up within a few rounds.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Engine } from '../../src/storage/index.js';
import { MAIN } from '../helpers/server-process.js';
import { tempDir } from '../helpers/temp-dir.js';

const PRELOAD = fileURLToPath(new URL('../helpers/restore-race-preload.js', import.meta.url));
/** Rounds: 8 in `npm test` (two of each setup; the old code failed in every one), 100 with EVENTBUS_LONG=1. */
const ROUNDS = Number(process.env.EVENTBUS_RESTORE_RACE_ROUNDS ?? (process.env.EVENTBUS_LONG === '1' ? 100 : 8));

interface Run { status: number | null; stdout: string; stderr: string }

/** A pid no process has (above any pid_max Linux allows by default). */
const DEAD_PID = 4194303;

/** What a round's target holds before the two restores start. */
const SETUPS: [string, (target: string, snapshot: string) => void][] = [
  ['a target not created yet', () => {}],
  ['an empty directory (a mount point)', (target) => fs.mkdirSync(path.join(target, 'lost+found'), { recursive: true })],
  ['a restore killed part-way (its marker names a dead process)', (target, snapshot) => {
    fs.mkdirSync(path.join(target, 'streams'), { recursive: true });
    fs.writeFileSync(path.join(target, 'RESTORING'), `${DEAD_PID}\n\n1\n${snapshot}\n`);
  }],
  ['a restore killed while its marker was still empty (as the old code could leave it)', (target) => {
    fs.mkdirSync(path.join(target, 'streams'), { recursive: true });
    fs.writeFileSync(path.join(target, 'RESTORING'), '');
  }],
];

/** `eventbus ARGS`; with `race`, slowed down and lined up with the other racer (helpers/restore-race-preload.ts). */
function eventbus(args: string[], race?: { target: string; barrier: string }): Promise<Run> {
  return new Promise((resolve) => {
    const preload = race === undefined ? [] : ['--import', PRELOAD];
    const env = race === undefined ? process.env : { ...process.env, RACE_TARGET: race.target, RACE_BARRIER: race.barrier, RACE_PARTIES: '2' };
    const child = spawn(process.execPath, [...preload, MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

t.test('two restores into one directory at once: one restores, the other is refused in one line, the store verifies', async (t) => {
  const dir = tempDir(t, 'restore-race');
  const engine = await Engine.open({ dataDir: path.join(dir, 'data'), retentionIntervalMs: 0 });
  await engine.createStream('orders');
  for (let i = 0; i < 20; i++) await engine.append('orders', Buffer.from(JSON.stringify({ i })));
  const snapshot = (await engine.snapshot(path.join(dir, 'snaps'))).path;
  await engine.close();

  const failures: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const target = path.join(dir, `target-${round}`);
    const [what, setup] = SETUPS[round % SETUPS.length]!;
    setup(target, snapshot);
    // Both look at the target at the same moment, once both have verified the snapshot.
    const race = { target, barrier: path.join(dir, `barrier-${round}`) };
    fs.mkdirSync(race.barrier);
    const runs = await Promise.all([0, 1].map(() => eventbus(['restore', snapshot, '--data', target, '--json'], race)));
    const restored = runs.filter((run) => run.status === 0);
    const refused = runs.filter((run) => run.status !== 0);
    // Refused while the other runs (75), or once it has finished (the target no longer empty:
    // 64 when the command's check sees it, 1 when the restore itself does).
    const clear = (run: Run) =>
      (run.status === 75 && new RegExp(`^eventbus: a restore into ${target.replace(/[.]/g, '\\.')} is running \\(process \\d+\\)[;,][^\\n]*\\n$`).test(run.stderr)) ||
      ((run.status === 64 || run.status === 1) && /^eventbus: [^\n]* is not an empty directory; restore never overwrites data\n$/.test(run.stderr));
    if (restored.length !== 1 || !refused.every(clear)) {
      failures.push(`round ${round} (${what}): ${runs.map((run) => `status ${run.status} ${JSON.stringify(run.stderr.trim())}`).join('; ')}`);
      continue;
    }
    const verify = await eventbus(['verify', target, '--json']);
    const report = JSON.parse(verify.stdout || '{}') as { ok?: boolean; events?: number };
    if (verify.status !== 0 || report.ok !== true || report.events !== 20) failures.push(`round ${round} (${what}): the restored store does not verify: ${verify.stdout}${verify.stderr}`);
    else if (fs.readdirSync(target).some((name) => name.includes('RESTORING'))) failures.push(`round ${round} (${what}): a RESTORING file or helper is left: ${fs.readdirSync(target).join(', ')}`);
  }
  t.same(failures, [], `every one of ${ROUNDS} rounds: one restore, the other refused in one line, a store that verifies with the 20 events`);
});
