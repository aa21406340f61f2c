/**
 * Stream names are never paths: `../x`, `/etc`, `a/b`, `..`, device names, look-alike slashes and
 * dots are ordinary names. Each is created over the wire, used and deleted, and the file system
 * around the data directory is listed before and after: the only new entries are
 * `streams/<uuid>/…` inside it, and nothing anywhere else carries the names (this suite runs as
 * root here, so a path built from a name could have written anywhere).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { startInProcess } from '../helpers/server-inprocess.js';
import { LineSocket } from '../helpers/server-lines.js';
import { tempDir } from '../helpers/server-process.js';

const NONCE = `ebname${randomBytes(4).toString('hex')}`;

/** Names that must work as ordinary names (each distinct). */
const VALID = [
  `../${NONCE}`, `../../${NONCE}`, `../../../../../../../../tmp/${NONCE}`, `/tmp/${NONCE}`, `/etc/${NONCE}`, '/etc', '/etc/passwd', 'a/b', `${NONCE}/../../x`,
  '..', '.', '...', '/', '//', 'con', 'CON', 'nul', 'aux', 'com1', 'LPT1.txt', 'a\\b', `C:\\${NONCE}`, '\\\\server\\share', '~', `~/${NONCE}`, '$HOME',
  '%TEMP%', '*', '?', 'a:b', `${NONCE} `, ` ${NONCE}`, `.${NONCE}`, `${NONCE}.`, 'streams', 'catalog', 'LOCK',
  `a\uff0fb`, `a\u2215b`, `a\u2044b`, `\uff0e\uff0e\uff0f${NONCE}`, `a\uff3cb`, `\u2025\uff0f${NONCE}`, `\u202e${NONCE}`, `a\u200bb`,
  'caf\u00e9', 'cafe\u0301', '😀', '$dlq', 'dlq:x', '__proto__', 'constructor',
  'ä'.repeat(127) + 'a', '😀'.repeat(63) + 'abc', 'x'.repeat(255),
];

/** Names refused with INVALID_STREAM_NAME. */
const INVALID = ['', 'x'.repeat(256), '😀'.repeat(64), 'a\u0000b', `${NONCE}\u0000`, 'a\nb', 'a\tb', '\r', 'a\u007fb', 'a\u0085b', 'a\u009fb', '\ud800', 'a\udfffb', '$dlq:x'];

/** Every path under `dir`, relative, directories with a trailing slash. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const rel = prefix + entry.name;
      if (entry.isDirectory()) {
        out.push(`${rel}/`);
        walk(path.join(d, entry.name), `${rel}/`);
      } else out.push(rel);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** Entries anywhere under `dirs` (to `depth` levels) whose name contains the nonce. */
function findNonce(dirs: string[], depth: number): string[] {
  const found: string[] = [];
  const walk = (d: string, level: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.includes(NONCE)) found.push(path.join(d, entry.name));
      if (entry.isDirectory() && level < depth) walk(path.join(d, entry.name), level + 1);
    }
  };
  for (const d of dirs) walk(d, 1);
  return found;
}

/** Entries of the store itself, made on first use; none is named after a stream. */
const ENGINE_FILES = ['data/catalog', 'data/LOCK', 'data/streams/'];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

t.test('path-like, device, look-alike and odd names are ordinary names; nothing is created outside streams/<uuid>/', async (t) => {
  t.equal(new Set(VALID).size, VALID.length, 'the names are distinct');
  const parent = tempDir(t, 'eventbus-names-');
  const dataDir = path.join(parent, 'data');
  const around = [parent, os.tmpdir(), process.cwd(), '/etc', '/', path.dirname(process.cwd())];
  t.same(findNonce(around, 2), [], 'nothing carries the nonce before');

  let server = await startInProcess({ engineOptions: { dataDir }, keepData: true });
  t.teardown(() => server.close());
  const s = await LineSocket.connect(server.port);
  t.teardown(() => s.close());
  const before = tree(parent);

  const ids = new Map<string, string>();
  for (const name of VALID) {
    const created = await s.request({ operation: 'create_stream', body: { stream_name: name } });
    const stream = (created.body as { stream: { id: string; name: string } } | undefined)?.stream;
    if (created.status !== true || stream?.name !== name) {
      t.fail(`create ${JSON.stringify(name)}: ${JSON.stringify(created)}`);
      continue;
    }
    ids.set(name, stream.id);
    const written = await s.request({ operation: 'write_event', body: { stream_name: name, event: { name } } });
    if (written.status !== true) t.fail(`write to ${JSON.stringify(name)}: ${JSON.stringify(written)}`);
  }
  t.equal(ids.size, VALID.length, `${VALID.length} odd names created, each echoed exactly`);
  t.equal(new Set(ids.values()).size, VALID.length, 'each its own stream');

  // Consumer names follow the same rules, and are not paths either.
  let consumers = 0;
  for (const name of VALID) {
    const delivered = await s.request({ operation: 'process_events', body: { stream_name: 'a/b', consumer: name } });
    if (delivered.status === true && (delivered.body as { events: unknown[] }).events.length === 1) consumers += 1;
    else t.fail(`consumer ${JSON.stringify(name)}: ${JSON.stringify(delivered)}`);
  }
  t.equal(consumers, VALID.length, `the same ${VALID.length} names work as consumer names`);

  for (const name of INVALID) {
    const refused = await s.request({ operation: 'create_stream', body: { stream_name: name } });
    if (refused.code !== 'INVALID_STREAM_NAME') t.fail(`${JSON.stringify(name)}: ${JSON.stringify(refused)}`);
  }
  t.pass(`${INVALID.length} names refused with INVALID_STREAM_NAME (empty, 256 bytes, NUL, control characters, lone surrogates, reserved)`);

  // The file system: new entries only under streams/<uuid>/ inside the data directory.
  const after = tree(parent);
  const added = after.filter((p) => !before.includes(p));
  const stray = added.filter((p) => {
    if (ENGINE_FILES.includes(p)) return false;
    const parts = p.split('/').filter((x) => x !== '');
    return parts[0] !== 'data' || parts[1] !== 'streams' || parts.length < 3 || !UUID.test(parts[2]!);
  });
  t.same(stray, [], `${added.length} new entries, all under data/streams/<uuid>/ (besides ${ENGINE_FILES.join(', ')})`);
  const streamDirs = after.filter((p) => /^data\/streams\/[^/]+\/$/.test(p));
  t.same(streamDirs.map((p) => p.split('/')[2]).sort(), [...ids.values()].sort(), 'one directory per stream, named by its UUID');
  t.same(findNonce(around, 2), [], 'no file or directory anywhere carries a name');
  const components = new Set(after.flatMap((p) => p.split('/')));
  t.same(VALID.filter((n) => !['streams', 'catalog', 'LOCK'].includes(n) && components.has(n)), [], 'no file in the data directory is named after a stream');

  // The names survive a restart, byte for byte.
  s.close();
  await server.close();
  server = await startInProcess({ engineOptions: { dataDir }, keepData: true });
  const again = await LineSocket.connect(server.port);
  t.teardown(() => again.close());
  let same = 0;
  for (const name of VALID) {
    const info = await again.request({ operation: 'get_stream_info', body: { stream_name: name } });
    const stream = (info.body as { stream: { id: string; name: string; event_count: number } } | undefined)?.stream;
    if (stream?.name === name && stream.id === ids.get(name) && stream.event_count === 1) same += 1;
    else t.fail(`after restart, ${JSON.stringify(name)}: ${JSON.stringify(info)}`);
  }
  t.equal(same, VALID.length, 'every name, id and event is there after a restart');
  const page = await again.request({ operation: 'get_stream_events', body: { stream_name: `../${NONCE}` } });
  t.same((page.body as { events: { body: unknown }[] }).events.map((e) => e.body), [{ name: `../${NONCE}` }]);

  // Deleting them removes exactly their directories.
  for (const name of VALID) {
    const deleted = await again.request({ operation: 'delete_stream', body: { stream_name: name } });
    if (deleted.status !== true) t.fail(`delete ${JSON.stringify(name)}: ${JSON.stringify(deleted)}`);
  }
  const end = tree(parent);
  t.same(end.filter((p) => /^data\/streams\/[^/]+\/$/.test(p)), [], 'every stream directory is gone');
  t.same(end.filter((p) => !before.includes(p) && !ENGINE_FILES.includes(p)), [], 'the data directory is back to its entries before (and the catalog)');
  t.same(findNonce(around, 2), [], 'and nothing outside');
});
