/**
 * Reads by key on a truncated stream, before and after a kill -9 of the real server process: the
 * versions truncation removed are skipped (they never fill a page), forward pages run through
 * the key's remaining versions with `next_version` moving on and `at_end` only at the end, and a
 * backward read ends below the oldest version left. After the restart the key index holds no
 * entries for the removed versions at all (it is rebuilt from what the log still holds), which
 * is what once made a page report the end early.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { serverProcessFor, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

type KeyPage = { events: { offset: number; version: number }[]; next_version: number; at_end: boolean };

/** Pages through `key` with pages of `max` from `start` (a body fragment); the versions read and the last page. */
async function pageKey(client: EventBusClient, key: string, direction: 'forward' | 'backward', max: number, start: Record<string, unknown> = {}) {
  const versions: number[] = [];
  let body: Record<string, unknown> = { stream_name: 's', key, direction, max_events: max, ...start };
  for (let pages = 0; pages < 100; pages++) {
    const page = (await client.request('get_stream_events', body)).body as KeyPage;
    versions.push(...page.events.map((e) => e.version));
    if (page.at_end) return { versions, last: page, pages: pages + 1 };
    if (page.events.length === 0) return { versions, last: page, pages: -1 }; // a page neither full nor at the end
    body = { ...body, from_version: page.next_version };
  }
  return { versions, last: null, pages: -1 };
}

/** Kills `first` with SIGKILL, starts the server again on its data, and connects to it. */
async function killAndRestart(t: Test, first: ServerProcess, client: EventBusClient, args: string[] = []): Promise<EventBusClient> {
  client.close();
  await first.stop('SIGKILL');
  const second = await startServerProcess({ dataDir: first.dataDir, cwd: first.cwd, args: ['--fsync', 'always', ...args] });
  t.teardown(() => second.stop('SIGKILL'));
  const again = await EventBusClient.connect({ port: second.port });
  t.teardown(() => again.close());
  return again;
}

t.test('reads by key skip the truncated versions, before and after kill -9', async (t) => {
  const first = await serverProcessFor(t, { args: ['--fsync', 'always'] });
  let client = await EventBusClient.connect({ port: first.port });
  await client.createStream('s');
  // Key a at the even offsets (versions 0..19), b at the odd ones.
  for (let i = 0; i < 40; i++) await client.request('write_event', { stream_name: 's', event: { i }, key: i % 2 === 0 ? 'a' : 'b' });
  await client.request('truncate_stream', { stream_name: 's', before_offset: 13 });
  // a's events from offset 14 on: versions 7..19.
  const left = Array.from({ length: 13 }, (_, i) => 7 + i);

  const check = async (when: string) => {
    for (const max of [1, 3, 4, 20]) {
      const forward = await pageKey(client, 'a', 'forward', max);
      t.same(forward.versions, left, `${when}, pages of ${max}: forward, every version left, in order`);
      t.ok(forward.pages > 0 && forward.pages <= Math.ceil(left.length / max) + 1, `${when}, pages of ${max}: no empty page before the end (${forward.pages} pages)`);
      t.equal(forward.last?.next_version, 20, `${when}: the end continues at the next version`);
      const backward = await pageKey(client, 'a', 'backward', max);
      t.same(backward.versions, [...left].reverse(), `${when}, pages of ${max}: backward, newest first, down to the oldest left`);
      t.equal(backward.last?.next_version, 6, `${when}: backward ends below the oldest version left`);
    }
    const fromRemoved = (await client.request('get_stream_events', { stream_name: 's', key: 'a', from_version: 2, max_events: 2 })).body as KeyPage;
    t.same(fromRemoved.events.map((e) => e.version), [7, 8], `${when}: from a removed version, the first ones left`);
    t.same([fromRemoved.next_version, fromRemoved.at_end], [9, false]);
  };
  await check('before the restart');

  client = await killAndRestart(t, first, client);
  await check('after kill -9 and a restart');
});

t.test('a key whose events truncation removed keeps its version across kill -9: the next append continues it', async (t) => {
  const first = await serverProcessFor(t, { args: ['--fsync', 'always'] });
  let client = await EventBusClient.connect({ port: first.port });
  await client.createStream('s');
  await client.request('append_events', { stream_name: 's', key: 'gone', events: [{ body: 0, msg_id: 'a' }, { body: 1, msg_id: 'b' }, { body: 2 }] });
  await client.request('write_event', { stream_name: 's', event: 'keyless' });
  await client.request('truncate_stream', { stream_name: 's', before_offset: 3 });
  // Killed at once: the key index's newest entries were still in memory (it writes them out
  // after 2 s without keyed appends), and the log no longer holds the removed events.
  client = await killAndRestart(t, first, client);
  await t.rejects(client.request('append_events', { stream_name: 's', key: 'gone', expected_version: 'no_stream', events: [{ body: 'again' }] }), { code: 'WRONG_EXPECTED_VERSION' }, 'the key has versions: no_stream is refused');
  const next = (await client.request('append_events', { stream_name: 's', key: 'gone', expected_version: 2, events: [{ body: 3 }] })).body as { events: { version: number }[] };
  t.same(next.events.map((e) => e.version), [3], 'versions go on from the last one, not from 0');
});

t.test('a key whose events retention removed keeps its version across kill -9: the next append continues it', async (t) => {
  // 1 KiB segments, so that a few events fill one and retention can remove the key's.
  const config = path.join(t.testdir(), 'eventbus.yaml');
  fs.writeFileSync(config, 'storage:\n  segment_size_bytes: 1024\n');
  const args = ['--config', config];
  const first = await serverProcessFor(t, { args: ['--fsync', 'always', ...args] });
  let client = await EventBusClient.connect({ port: first.port });
  await client.createStream('s');
  await client.request('append_events', { stream_name: 's', key: 'gone', events: [{ body: 0 }, { body: 1 }, { body: 2 }] });
  for (let i = 0; i < 30; i++) await client.request('write_event', { stream_name: 's', event: 'x'.repeat(200) });
  const kept = (await client.request('set_stream_retention', { stream_name: 's', retention: { max_events: 5 } })).body as Record<string, unknown>;
  t.ok(kept, 'retention set');
  const info = ((await client.request('get_stream_info', { stream_name: 's' })).body as { stream: { first_offset: number } }).stream;
  t.ok(info.first_offset > 3, `retention removed the key's events at once (first offset ${info.first_offset})`);
  // Killed at once: before this fix the key index's newest entries were still only in memory
  // (written out after 2 s without keyed appends) when retention removed the events they came from.
  client = await killAndRestart(t, first, client, args);
  await t.rejects(client.request('append_events', { stream_name: 's', key: 'gone', expected_version: 'no_stream', events: [{ body: 'again' }] }), { code: 'WRONG_EXPECTED_VERSION' }, 'the key has versions: no_stream is refused');
  const next = (await client.request('append_events', { stream_name: 's', key: 'gone', expected_version: 2, events: [{ body: 3 }] })).body as { events: { version: number }[] };
  t.same(next.events.map((e) => e.version), [3], 'versions go on from the last one, not from 0');
});
