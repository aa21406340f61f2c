/**
 * The data directory's LOCK between processes that open one store at the same moment: exactly
 * one of them opens it, every other one is refused with LOCKED, whether the directory is new (not
 * even created yet) or holds a stale LOCK (torn, or naming a dead process) that they all try to
 * take over. Real processes, their LOCK steps slowed down at random (helpers/lock-race-child.ts)
 * so that the interleavings a loaded machine produces come up within a few rounds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tempDir } from '../helpers/temp-dir.js';

const CHILD = fileURLToPath(new URL('../helpers/lock-race-child.js', import.meta.url));
const PROCESSES = 8;
/** Rounds: 30 in `npm test` (the old code failed within the first few), 300 in `npm run test:long`'s environment. */
const ROUNDS = Number(process.env.EVENTBUS_LOCK_RACE_ROUNDS ?? (process.env.EVENTBUS_LONG === '1' ? 300 : 30));
/**
 * A pid no process has: Linux gives pids below pid_max, which is at most 2^22 (PID_MAX_LIMIT;
 * systemd sets it to exactly that, so 2^22 - 1 can be a live pid there), so 2^22 and above never.
 */
const DEAD_PID = 2 ** 22;

interface Reply { ready?: boolean; opened?: boolean; closed?: boolean; code?: string; reason?: string }

/** A lock-race child and the replies it has printed, one at a time. */
class Racer {
  private readonly replies: Reply[] = [];
  private readonly waiting: ((reply: Reply) => void)[] = [];
  readonly child: ChildProcess;

  constructor() {
    this.child = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const reply = JSON.parse(line) as Reply;
      const waiter = this.waiting.shift();
      if (waiter === undefined) this.replies.push(reply);
      else waiter(reply);
    });
  }

  send(command: object): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  next(): Promise<Reply> {
    const reply = this.replies.shift();
    if (reply !== undefined) return Promise.resolve(reply);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** What a round's data directory holds before the racers open it. */
const SETUPS: [string, (dataDir: string) => void][] = [
  ['a data directory not created yet', () => {}],
  ['a stale LOCK naming a dead process', (dataDir) => {
    fs.mkdirSync(dataDir);
    fs.writeFileSync(path.join(dataDir, 'LOCK'), `${DEAD_PID}\n${bootId()}\n1\n`);
  }],
  ['an empty LOCK (torn)', (dataDir) => {
    fs.mkdirSync(dataDir);
    fs.writeFileSync(path.join(dataDir, 'LOCK'), '');
  }],
];

t.test(`${PROCESSES} processes opening one store at once: exactly one opens it, the others get LOCKED`, async (t) => {
  const root = tempDir(t, 'lock-race');
  const racers = Array.from({ length: PROCESSES }, () => new Racer());
  t.teardown(() => racers.forEach((racer) => racer.child.kill('SIGKILL')));
  for (const racer of racers) t.same(await racer.next(), { ready: true });
  const failures: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const [what, setup] = SETUPS[round % SETUPS.length]!;
    const dataDir = path.join(root, `round-${round}`);
    setup(dataDir);
    for (const racer of racers) racer.send({ open: dataDir });
    const replies = await Promise.all(racers.map((racer) => racer.next()));
    const opened = replies.filter((reply) => reply.opened === true).length;
    const others = replies.filter((reply) => reply.opened !== true).map((reply) => `${reply.code}: ${reply.reason}`);
    const wrong = others.filter((other) => !other.startsWith('LOCKED: '));
    if (opened !== 1 || wrong.length > 0) failures.push(`round ${round} (${what}): ${opened} opened; ${wrong.join('; ') || 'the rest LOCKED'}`);
    for (const racer of racers) racer.send({ close: true });
    await Promise.all(racers.map((racer) => racer.next()));
    if (opened === 1) {
      const left = fs.readdirSync(dataDir).filter((name) => name.includes('LOCK'));
      if (left.length > 0) failures.push(`round ${round} (${what}): left behind after the close: ${left.join(', ')}`);
    }
  }
  t.same(failures, [], `every one of ${ROUNDS} rounds: one process opened the store, ${PROCESSES - 1} were refused with LOCKED, nothing of the LOCK left after a clean close`);
  for (const racer of racers) racer.child.stdin!.end();
});
