/** `eventbus write --key --type [--expected-version]` as a real process against a real server. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import t from 'tap';
import { MAIN, serverProcessFor } from '../helpers/server-process.js';

const { NODE_OPTIONS: _tapHooks, ...BASE_ENV } = process.env;

t.test('write --key --type: one event and lines from stdin get the key\'s versions; --expected-version checks', async (t) => {
  const server = await serverProcessFor(t);
  const run = (args: string[], input = ''): SpawnSyncReturns<string> =>
    spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000, input, env: { ...BASE_ENV, EVENTBUS_PORT: String(server.port) } });
  t.equal(run(['create', 'orders']).status, 0);
  const one = run(['write', 'orders', '--key', 'order-1', '--type', 'OrderPlaced', '--expected-version', 'no_stream', '{"total":12.5}']);
  t.equal(one.status, 0, one.stderr);
  t.match(JSON.parse(one.stdout), { offset: 0, version: 0 });
  const lines = run(['write', 'orders', '--key', 'order-1', '--type', 'OrderLine'], '{"line":1}\n{"line":2}\n');
  t.equal(lines.status, 0, lines.stderr);
  t.match(JSON.parse(lines.stdout), { events: 2, first_offset: 1, last_offset: 2 });
  const wrong = run(['write', 'orders', '--key', 'order-1', '--expected-version', '0', '{}']);
  t.equal(wrong.status, 3, wrong.stderr);
  t.match(wrong.stderr, /WRONG_EXPECTED_VERSION/);
  t.equal(run(['write', 'orders', '--expected-version', 'latest', '{}']).status, 64, 'a bad --expected-version is a usage error');
  const read = run(['read', 'orders']);
  const events = read.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { key?: string; version?: number; type?: string });
  t.same(events.map((e) => [e.key, e.version, e.type]), [['order-1', 0, 'OrderPlaced'], ['order-1', 1, 'OrderLine'], ['order-1', 2, 'OrderLine']]);
});
