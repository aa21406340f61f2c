/**
 * The README's client example is examples/client.ts, byte for byte, and it works as a newcomer
 * runs it: against a real server, twice in a row (the stream exists the second time), and with
 * no server it fails with one line naming the code, not a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { decodeEventId } from '../../src/storage/format/event-id.js';
import { serverProcessFor } from '../helpers/server-process.js';

const ROOT = new URL('../../../', import.meta.url);
const SOURCE = fileURLToPath(new URL('examples/client.ts', ROOT));
const COMPILED = fileURLToPath(new URL('dist/examples/client.js', ROOT));
const MARKER = '<!-- examples/client.ts:';

t.test('the event ids the README shows are ids a store gives now (stream number first, a store id in the middle)', async (t) => {
  const readme = readFileSync(fileURLToPath(new URL('README.md', ROOT)), 'utf8');
  const ids = readme.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g) ?? [];
  t.ok(ids.length >= 2, `the README shows event ids (${ids.join(', ')})`);
  for (const id of ids) {
    const decoded = decodeEventId(id);
    t.ok(decoded !== null && decoded.storePart !== null, `${id} carries a store id, as every id of a store made now`);
    t.ok(decoded !== null && decoded.streamNumber >= 1, `${id}: stream numbers start at 1`);
  }
});

t.test('the README shows examples/client.ts exactly', async (t) => {
  const readme = readFileSync(fileURLToPath(new URL('README.md', ROOT)), 'utf8');
  const at = readme.indexOf(MARKER);
  t.ok(at >= 0, 'the README marks the example');
  const block = /```ts\n([\s\S]*?)\n *```/.exec(readme.slice(at))![1]!;
  const dedented = block.split('\n').map((line) => line.replace(/^ {2}/, '')).join('\n');
  t.equal(`${dedented}\n`, readFileSync(SOURCE, 'utf8'), 'the block equals the file');
});

t.test('the example runs twice against a real server, and fails politely without one', async (t) => {
  const server = await serverProcessFor(t);
  const env = { ...process.env, EVENTBUS_PORT: String(server.port) };
  for (const run of [1, 2]) {
    const result = spawnSync(process.execPath, [COMPILED], { encoding: 'utf8', env, timeout: 30_000 });
    t.equal(result.status, 0, `run ${run} exits 0: ${result.stderr}`);
    t.equal(result.stderr, '', `run ${run}: nothing on stderr`);
    t.equal(result.stdout, `order ${run - 1}: 12.5\n`, `run ${run} processes its event`);
  }
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  t.equal((await client.getStreamInfo('orders')).eventCount, 2, 'one stream, both events');

  await server.stop();
  const down = spawnSync(process.execPath, [COMPILED], { encoding: 'utf8', env, timeout: 30_000 });
  t.equal(down.status, 1);
  t.match(down.stderr, /^eventbus: CONNECTION_ERROR: could not connect to 127\.0\.0\.1:\d+: .*\n$/, 'one line with the code');
});
