/**
 * What a person at a terminal sees: tables and colour (none with NO_COLOR or --no-color, JSON
 * with --json), a question before `delete`, progress bars on stderr for long work. Run under a
 * pseudo-terminal with util-linux `script`; the same commands in a pipe print JSON and no bar
 * (client-commands.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { MAIN, startServerProcess, tempDir } from '../helpers/server-process.js';

const SCRIPT = ['/usr/bin/script', '/bin/script'].find((candidate) => existsSync(candidate));
// Without tap's NODE_OPTIONS (its hooks slow every child) and its colour switches (NO_COLOR=1, FORCE_COLOR=0).
const { NODE_OPTIONS: _tapHooks, NO_COLOR: _noColor, FORCE_COLOR: _forceColor, COLOR: _color, ...BASE_ENV } = process.env;
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
  t.match(info.output, /events +1 \(offsets 0–0\)/);
  t.match(info.output, /│ billing │ +1 │ +0 │ +1 │/, 'the consumers table');
  t.match(onTerminal(['read', 'orders'], { env }).output, /#0.*\{"total":12\.50\}/, 'a readable line per event');

  const declined = onTerminal(['delete', 'orders'], { env, input: 'n\n' });
  t.match(declined.output, /delete stream 'orders' with its 1 events and 1 consumer\? This cannot be undone\. \[y\/N\]/, 'asks first');
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
  t.match(verified.output, /OK: data directory/);
  const snapshot = spawnSync(process.execPath, [MAIN, 'snapshot', '--data', data, '--output', path.join(dir, 'snaps'), '--json'], { encoding: 'utf8', env: BASE_ENV });
  const snapshotPath = (JSON.parse(snapshot.stdout) as { absolute_path: string }).absolute_path;
  const restored = onTerminal(['restore', snapshotPath, '--data', path.join(dir, 'restored')]);
  t.equal(restored.status, 0, restored.output);
  t.match(restored.output, /restoring \|/, 'a bar');
  t.match(restored.output, /restored .* 2000 events/);
});
