/**
 * `consume --follow` giving up on a server gone for good: it reconnects for about a minute (as
 * `read --follow` does), then ends with exit 69 and one line that says, besides the connection
 * error, how many events it delivered and acknowledged. A real CLI against a real server
 * process, killed (kill -9) and not started again. Takes a minute: the bound is the point.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { MAIN, startServerProcess } from '../helpers/server-process.js';

const { NODE_OPTIONS: _tapHooks, ...BASE_ENV } = process.env;

t.test('consume --follow gives up after about a minute without the server: exit 69, the line says what was delivered and acknowledged', async (t) => {
  const server = await startServerProcess();
  t.teardown(() => server.stop('SIGKILL'));
  const env = { ...BASE_ENV, EVENTBUS_PORT: String(server.port) };
  const cli = (args: string[]) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => { child.kill('SIGKILL'); });
    const seen = { stdout: '', stderr: '' };
    child.stdout.on('data', (chunk: Buffer) => (seen.stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (seen.stderr += chunk.toString()));
    const exited = new Promise<{ status: number | null; atMs: number }>((resolve) => child.once('exit', (status) => resolve({ status, atMs: performance.now() })));
    return { seen, exited };
  };
  for (const args of [['create', 'gone'], ['write', 'gone', '{"n":1}'], ['write', 'gone', '{"n":2}']]) t.equal((await cli(args).exited).status, 0, args.join(' '));
  const acking = cli(['consume', 'gone', '--consumer', 'acking', '--ack', '--follow']);
  const looking = cli(['consume', 'gone', '--consumer', 'looking', '--follow']);
  for (let i = 0; [acking, looking].some((c) => c.seen.stdout.split('\n').length < 3); i++) {
    if (i > 1000) throw new Error(`not both events after 20 s: ${acking.seen.stdout} ${looking.seen.stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 500)); // acknowledged, and the next long-polls waiting
  const killedAtMs = performance.now();
  await server.stop('SIGKILL');
  for (const [c, what] of [[acking, 'with --ack'], [looking, 'without --ack']] as const) {
    const { status, atMs } = await c.exited;
    const s = (atMs - killedAtMs) / 1000;
    t.equal(status, 69, `${what}: exit 69 (${c.seen.stderr.trim()})`);
    t.ok(s > 55 && s < 80, `${what}: gave up after about a minute, not at once (${s.toFixed(1)} s)`);
    const lines = c.seen.stderr.trimEnd().split('\n');
    t.equal(lines.length, 1, `${what}: one line on stderr`);
    t.match(lines[0], /^eventbus: CONNECTION_ERROR: /, `${what}: the connection error`);
  }
  t.match(acking.seen.stderr, /; 2 events delivered to consumer acking, 2 acknowledged\n$/, 'with --ack: delivered and acknowledged counted');
  t.match(looking.seen.stderr, /; 2 events delivered to consumer looking, not acknowledged: they come back through retry_events after the acknowledgement deadline\n$/, 'without --ack: delivered, and what becomes of them');
});
