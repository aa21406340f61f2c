/**
 * What a person at a terminal sees: tables and colour (none with NO_COLOR or --no-color, JSON
 * with --json), a question before `delete`, progress bars on stderr for long work. Run under a
 * pseudo-terminal with util-linux `script`; the same commands in a pipe print JSON and no bar
 * (client-commands.test.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import type { TapTest } from '../helpers/temp-dir.js';
import { EventBusClient } from '../../src/client/index.js';
import { MAIN, startServerProcess, tempDir } from '../helpers/server-process.js';

const SCRIPT = ['/usr/bin/script', '/bin/script'].find((candidate) => existsSync(candidate));
// Without tap's NODE_OPTIONS (its hooks slow every child) and its colour switches (NO_COLOR=1, FORCE_COLOR=0).
const { NODE_OPTIONS: _tapHooks, NO_COLOR: _noColor, FORCE_COLOR: _forceColor, COLOR: _color, ...INHERITED_ENV } = process.env;
// `script` runs its command with $SHELL -c: the same shell wherever the tests run (CI may have none set).
const BASE_ENV = { ...INHERITED_ENV, SHELL: '/bin/sh' };
const ESCAPE = '\u001b[';

/** Runs `eventbus ARGS` on a pseudo-terminal; stdout and stderr arrive together. */
function onTerminal(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): { status: number | null; output: string } {
  const quoted = [process.execPath, MAIN, ...args].map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ');
  const result = spawnSync(SCRIPT!, ['-qec', quoted, '/dev/null'], {
    encoding: 'utf8',
    timeout: 60_000,
    input: options.input ?? '',
    env: { ...BASE_ENV, TERM: 'xterm-256color', COLUMNS: '120', ...options.env },
  });
  return { status: result.status, output: result.stdout };
}

/** The command line for `script`, with `redirect` (shell redirections) after it. */
function commandLine(args: string[], redirect = ''): string {
  return `${[process.execPath, MAIN, ...args].map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ')} ${redirect}`;
}

/**
 * Runs `eventbus ARGS` on a pseudo-terminal, typing `keys` (e.g. Ctrl-C, \u0003) after `afterMs`,
 * or once the output matches `after` (a key typed before the program reads the terminal in raw
 * mode can be taken by the terminal itself: a Ctrl-D then ends nothing).
 */
async function typedOnTerminal(args: string[], keys: string, after: number | RegExp, env: NodeJS.ProcessEnv): Promise<{ status: number | null; output: string }> {
  // exec: Ctrl-C goes to eventbus alone. A dash left waiting for it would die of the SIGINT
  // itself, and `script` would report 130 whatever eventbus exited with.
  const child = spawn(SCRIPT!, ['-qec', `exec ${commandLine(args)}`, '/dev/null'], { env: { ...BASE_ENV, TERM: 'xterm-256color', COLUMNS: '120', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  if (typeof after === 'number') await new Promise((resolve) => setTimeout(resolve, after));
  else await new Promise<void>((resolve) => {
    const deadline = Date.now() + 30_000;
    const check = () => (after.test(output) || Date.now() > deadline ? resolve() : setTimeout(check, 50));
    check();
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  child.stdin.write(keys);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const status = await exited;
  clearTimeout(timer);
  return { status, output };
}

t.test('tables, colour, questions and progress bars on a terminal', { skip: SCRIPT === undefined ? 'needs util-linux script (Debian: apt-get install bsdutils)' : false }, async (t) => {
  const server = await startServerProcess();
  t.teardown(() => void server.stop('SIGKILL'));
  const env = { EVENTBUS_PORT: String(server.port) };
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  await client.createStream('orders');
  await client.writeEventJson('orders', '{"total":12.50}');
  await client.processEvents('orders', { consumer: 'billing' });

  const streams = onTerminal(['streams'], { env });
  t.equal(streams.status, 0, streams.output);
  t.match(streams.output, /┌─+┬/, 'a table');
  t.match(streams.output, /│ orders +│ +1 │/);
  t.match(streams.output, /billing .*pending 1/);
  t.ok(streams.output.includes(ESCAPE), 'in colour');
  // CI runners set CI=true; Node's own colour check (util.styleText's) then says no colour, even on a terminal.
  const onCi = onTerminal(['streams'], { env: { ...env, CI: 'true' } });
  t.ok(onCi.output.includes(ESCAPE), 'in colour with CI=true in the environment too: only our switches turn it off');
  for (const [label, extra, args] of [['NO_COLOR', { NO_COLOR: '1' }, []], ['--no-color', {}, ['--no-color']]] as const) {
    const plain = onTerminal(['streams', ...args], { env: { ...env, ...extra } });
    t.match(plain.output, /│ orders/, `${label}: still a table`);
    t.notOk(plain.output.includes(ESCAPE), `${label}: no colour`);
  }
  const json = onTerminal(['info', 'orders', '--json'], { env });
  t.match(JSON.parse(json.output), { name: 'orders', event_count: 1 }, '--json on a terminal');
  const info = onTerminal(['info', 'orders'], { env });
  t.match(info.output, /events +1 \(offset 0\)/);
  t.match(info.output, /│ billing │ +1 │ +0 │ +1 │/, 'the consumers table');
  t.match(onTerminal(['read', 'orders'], { env }).output, /#0.*\{"total":12\.50\}/, 'a readable line per event');
  t.match(onTerminal(['consume', 'orders', '--consumer', 'billing', '--retry'], { env }).output, /nothing due for retry for consumer billing/, 'nothing due: said so, not "0 events delivered ... pending"');

  const declined = onTerminal(['delete', 'orders'], { env, input: 'n\n' });
  t.match(declined.output, /delete stream 'orders' with its 1 event and 1 consumer\? This cannot be undone\. \[y\/N\]/, 'asks first (1 event, singular)');
  t.equal(declined.status, 1, 'no is a failure to delete');
  t.match(declined.output, /not deleted/);
  t.equal((await client.getStreamInfo('orders')).name, 'orders', 'still there');

  const dir = tempDir(t);
  const file = path.join(dir, 'events.jsonl');
  writeFileSync(file, Array.from({ length: 20_000 }, (_, i) => `{"i":${i}}\n`).join(''));
  const bulk = spawnSync(SCRIPT!, ['-qec', `'${process.execPath}' '${MAIN}' write orders < '${file}'`, '/dev/null'], { encoding: 'utf8', env: { ...BASE_ENV, ...env, TERM: 'xterm' }, timeout: 60_000 });
  t.equal(bulk.status, 0, bulk.stdout);
  t.match(bulk.stdout, /writing to orders \|/, 'a progress bar while writing from a file');
  t.match(bulk.stdout, /wrote .*20,000.* events to orders \(offsets 1–20,000\)/);
  // bench's bars are drawn from their real totals (the first frame showed 0/1 events).
  const bench = onTerminal(['bench', '--events', '20000', '--connections', '1', '--depth', '4', '--workers', '1', '--stream', 'barred'], { env });
  t.equal(bench.status, 0, bench.output);
  t.notMatch(bench.output, /[\d,]+\/1 events/, 'no bar with a total of 1');
  for (const [, total] of bench.output.matchAll(/(?:writing|draining) \|[^|]*\| \d+% · [\d,]+\/([\d,]+) events/g)) t.equal(total, '20,000', 'a bar drawn shows the total of events');

  // The answer comes from stdin: stderr elsewhere, the question is asked on the terminal itself.
  for (const redirect of ['2>/dev/null', '2>/dev/null | cat']) {
    const result = spawnSync(SCRIPT!, ['-qec', commandLine(['delete', 'orders'], redirect), '/dev/null'], { encoding: 'utf8', timeout: 60_000, input: 'n\n', env: { ...BASE_ENV, ...env, TERM: 'xterm' } });
    t.match(result.stdout, /delete stream 'orders' .*\[y\/N\]/, `${redirect}: asked on the terminal`);
    if (!redirect.includes('|')) t.equal(result.status, 1, `${redirect}: n is no`);
    t.equal((await client.getStreamInfo('orders')).name, 'orders', `${redirect}: still there`);
  }
  // Ctrl-D at the question: no, and the failure starts a line of its own.
  const ended = await typedOnTerminal(['delete', 'orders'], '\u0004', /\[y\/N\]/, env);
  t.equal(ended.status, 1, ended.output);
  t.match(ended.output, /\[y\/N\] [^\n]*\n\S*eventbus: not deleted/, `the prompt's line is ended first: ${JSON.stringify(ended.output.slice(-120))}`);

  const confirmed = onTerminal(['delete', 'orders'], { env, input: 'y\n' });
  t.equal(confirmed.status, 0, confirmed.output);
  await t.rejects(client.getStreamInfo('orders'), { code: 'STREAM_NOT_FOUND' });
});

t.test('verify and restore draw their progress on a terminal', { skip: SCRIPT === undefined ? 'needs util-linux script (Debian: apt-get install bsdutils)' : false }, async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const server = await startServerProcess({ dataDir: data });
  const client = await EventBusClient.connect({ port: server.port });
  await client.createStream('s');
  await Promise.all(Array.from({ length: 2000 }, (_, i) => client.writeEventJson('s', `{"i":${i}}`)));
  await client.close();
  t.equal(await server.stop(), 0);
  const verified = onTerminal(['verify', '--data', data]);
  t.equal(verified.status, 0, verified.output);
  t.match(verified.output, /verifying \|/, 'a bar');
  t.match(verified.output, /eta (\?|\d+s)/, 'with an eta');
  t.notMatch(verified.output, /eta \S*LL/, "never cli-progress's placeholder (eta LLs, from NULL)");
  t.match(verified.output, /OK: data directory/);
  const snapshot = spawnSync(process.execPath, [MAIN, 'snapshot', '--data', data, '--output', path.join(dir, 'snaps'), '--json'], { encoding: 'utf8', env: BASE_ENV });
  const snapshotPath = (JSON.parse(snapshot.stdout) as { absolute_path: string }).absolute_path;
  const restored = onTerminal(['restore', snapshotPath, '--data', path.join(dir, 'restored')]);
  t.equal(restored.status, 0, restored.output);
  t.match(restored.output, /restoring \|/, 'a bar');
  t.match(restored.output, /restored .* 2,000 events/);
});

/** What follows the last time the bar hid the cursor: the cursor shown and line wrap on again. */
function restoresTerminal(t: TapTest, output: string, label: string): void {
  const hidden = output.lastIndexOf(`${ESCAPE}?25l`);
  t.ok(hidden >= 0, `${label}: a bar was drawn (it hides the cursor)`);
  const after = output.slice(hidden);
  t.ok(after.includes(`${ESCAPE}?25h`), `${label}: the cursor is shown again`);
  t.ok(after.includes(`${ESCAPE}?7h`), `${label}: line wrap is on again`);
}

t.test('Ctrl-C during a bulk write or a bench restores the terminal and says what was done (exit 130)', { skip: SCRIPT === undefined ? 'needs util-linux script (Debian: apt-get install bsdutils)' : false }, async (t) => {
  const server = await startServerProcess();
  t.teardown(() => void server.stop('SIGKILL'));
  const env = { ...BASE_ENV, EVENTBUS_PORT: String(server.port), TERM: 'xterm' };
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  await client.createStream('typed');
  await client.createStream('piped');

  // stdin a pipe that never ends, stderr the terminal: a bar, then SIGINT after 5 s (a loaded
  // machine can take seconds to start node and draw the first bar; 2 s was seen to be too short).
  const line = `yes '{"a":1}' | timeout --foreground --preserve-status -s INT 5 '${process.execPath}' '${MAIN}' write piped`;
  const piped = spawnSync(SCRIPT!, ['-qec', line, '/dev/null'], { encoding: 'utf8', env, timeout: 60_000 });
  t.equal(piped.status, 130, piped.stdout);
  restoresTerminal(t, piped.stdout, 'write');
  const said = /eventbus: interrupted: ([\d,]+) events were written \(offsets 0–[\d,]+\), nothing after line ([\d,]+) of stdin was sent/.exec(piped.stdout);
  t.ok(said !== null, `a summary: ${JSON.stringify(piped.stdout.slice(-300))}`);
  if (said !== null) t.equal((await client.getStreamInfo('piped')).eventCount, Number(said[1]!.replace(/,/g, '')), 'the count printed is the count stored');

  // stdin the terminal: no bar over what is typed; one event is "1 event".
  const typed = onTerminal(['write', 'typed'], { env: { EVENTBUS_PORT: String(server.port) }, input: '{"a":1}\n\u0004' });
  t.equal(typed.status, 0, typed.output);
  t.notOk(typed.output.includes(`${ESCAPE}?25l`), 'no bar while stdin is the terminal');
  t.match(typed.output, /wrote .*1.* event to typed/);
  t.notMatch(typed.output, /1.* events to typed/);

  const bench = spawnSync(SCRIPT!, ['-qec', `timeout --foreground --preserve-status -s INT 5 '${process.execPath}' '${MAIN}' bench --seconds 60 --connections 1 --depth 1 --stream benched`, '/dev/null'], { encoding: 'utf8', env, timeout: 60_000 });
  t.equal(bench.status, 130, bench.stdout);
  restoresTerminal(t, bench.stdout, 'bench');
  t.match(bench.stdout, /eventbus: interrupted: stream benched deleted/);
  await t.rejects(client.getStreamInfo('benched'), { code: 'STREAM_NOT_FOUND' }, 'its stream is gone');
});

t.test('consume interrupted before any answer says so, not "nothing due"', { skip: SCRIPT === undefined ? 'needs util-linux script (Debian: apt-get install bsdutils)' : false }, async (t) => {
  const silent = net.createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const { port } = silent.address() as net.AddressInfo;
  const consumed = await typedOnTerminal(['consume', 'x'], '\u0003', 4000, { EVENTBUS_PORT: String(port) });
  t.equal(consumed.status, 0, consumed.output);
  t.match(consumed.output, /interrupted: nothing delivered to consumer default/);
  t.notMatch(consumed.output, /nothing due/);
});
