/**
 * `eventbus verify` finds what the server's open finds after a clean stop: a damaged last record
 * of a consumer journal (the server reports it as damage), and segment files that are gone (the
 * active segment the clean-close checkpoint lists, a sealed one between two others, a log whose
 * index is left). Real processes on a store a real server wrote and stopped cleanly.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { MAIN, startServerProcess, tempDir } from '../helpers/server-process.js';
import type { TapTest } from '../helpers/temp-dir.js';

const DAMAGED = 2;

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.EVENTBUS_DATA;
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000, env });
}

/**
 * A store in `<dir>/data` (4 KiB segments) with stream "orders" holding 83 events of about 120
 * bytes (segments 0, 27, 54 sealed, 81 active) and a consumer that marked the first 10; its
 * server stopped cleanly. Returns the store and its stream directory.
 */
async function cleanStore(t: TapTest): Promise<{ dir: string; dataDir: string; streamDir: string; config: string }> {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, 'storage:\n  segment_size_bytes: 4096\n');
  const server = await startServerProcess({ dataDir, args: ['--config', config] });
  const client = await EventBusClient.connect({ port: server.port });
  await client.createStream('orders');
  for (let i = 0; i < 83; i++) await client.writeEvent('orders', { i, pad: 'x'.repeat(100) });
  const delivery = await client.processEvents('orders', { maxEvents: 10 });
  await client.markEvent(delivery.events.map((event) => event.id), 1);
  await client.close();
  t.equal(await server.stop(), 0, 'stopped cleanly');
  const streamDir = path.join(dataDir, 'streams', readdirSync(path.join(dataDir, 'streams'))[0]!);
  t.same(readdirSync(streamDir).filter((name) => name.endsWith('.log')).map((name) => Number(name.slice(0, 20))), [0, 27, 54, 81], 'the segments the test expects');
  t.equal(run('verify', dataDir).status, 0, 'it verifies before the damage');
  return { dir, dataDir, streamDir, config };
}

/** A copy of `dataDir` (beside it, named `name`) to damage, with its stream directory. */
function copyOf(dataDir: string, streamDir: string, name: string): { copy: string; stream: string } {
  const copy = path.join(path.dirname(dataDir), name);
  cpSync(dataDir, copy, { recursive: true });
  return { copy, stream: path.join(copy, path.relative(dataDir, streamDir)) };
}

const segment = (base: number, extension: 'log' | 'index') => `${String(base).padStart(20, '0')}.${extension}`;

t.test('verify reports a damaged last consumer journal record after a clean stop, as the server does', async (t) => {
  const { dataDir, streamDir, config } = await cleanStore(t);
  const size = statSync(path.join(streamDir, 'consumers')).size;
  const damages: [string, (file: string) => void][] = [
    ['a byte of the last record changed', (file) => {
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.from([0xff]), 0, 1, size - 3);
      closeSync(fd);
    }],
    ['the last record cut short', (file) => truncateSync(file, size - 5)],
    ['everything after the first 50 bytes gone', (file) => truncateSync(file, 50)],
  ];
  for (const [i, [what, damage]] of damages.entries()) {
    const { copy, stream } = copyOf(dataDir, streamDir, `journal-${i}`);
    const journal = path.join(stream, 'consumers');
    damage(journal);
    const verified = run('verify', copy);
    t.equal(verified.status, DAMAGED, `${what}: the damaged status (${verified.stdout})`);
    t.match(verified.stdout, /^DAMAGED: data directory/, `${what}: the report says DAMAGED`);
    t.match(verified.stdout, new RegExp(`problem: ${journal} at byte \\d+: consumer journal last record fails its check after a clean stop`), `${what}: names the file and position`);
    if (i === 0) {
      // The server's open judges it the same way: it logs the damage at error.
      const server = await startServerProcess({ dataDir: copy, args: ['--config', config] });
      const log = await server.waitForOutput(/consumer journal is damaged/);
      t.match(log, /last record fails its check after a clean stop/, 'the server reports the same damage');
      t.equal(await server.stop(), 0);
    }
  }
});

t.test('a consumer journal cut inside its header after a clean stop is damage, for verify and for the server', async (t) => {
  const { dataDir, streamDir, config } = await cleanStore(t);
  const { copy, stream } = copyOf(dataDir, streamDir, 'journal-header');
  truncateSync(path.join(stream, 'consumers'), 20);
  const verified = run('verify', copy);
  t.equal(verified.status, DAMAGED, `the damaged status (${verified.stdout})`);
  t.match(verified.stdout, /problem: \S+consumers at byte 0: consumer journal header is short \(20 bytes\) after a clean stop: every consumer position it held is lost/);
  t.notMatch(verified.stdout, /header (short|header|bad|unsupported)/, 'says "header" once');
  const server = await startServerProcess({ dataDir: copy, args: ['--config', config] });
  const log = await server.waitForOutput(/consumer journal is damaged/);
  t.match(log, /header is short \(20 bytes\) after a clean stop/, 'the server logs the damage at error instead of removing the journal silently');
  const client = await EventBusClient.connect({ port: server.port });
  const info = await client.getStreamInfo('orders');
  t.match(JSON.stringify(info), /header is short \(20 bytes\) after a clean stop/, 'and get_stream_info shows it');
  await client.close();
  t.equal(await server.stop(), 0);
});

t.test('verify reports segment files that are gone as damage to acknowledged events, naming the file', async (t) => {
  const { dataDir, streamDir } = await cleanStore(t);
  const cases: [string, string[], RegExp, number][] = [
    ['the active segment (log and index)', [segment(81, 'log'), segment(81, 'index')],
      /problem: \S+00000000000000000081\.log: is missing: the stream had given offsets 81 to 82 \(2 events\) in it \(the clean-close crc-checkpoint lists an active segment from offset 81 holding 2 records, and its log is missing\); those acknowledged events are lost/, 2],
    ['the active segment\'s log only', [segment(81, 'log')],
      /problem: \S+00000000000000000081\.log: is missing \(its index is still there\): the stream had given offsets 81 to 82 \(2 events\) in it \(the clean-close crc-checkpoint lists an active segment from offset 81 holding 2 records, and its log is missing; \S+00000000000000000081\.index lists 2 records/, 2],
    ['a sealed segment between two others', [segment(27, 'log'), segment(27, 'index')],
      /problem: \S+00000000000000000027\.log: is missing: offsets 27 to 53 have no segment \(the segment before ends at 26, the next begins at 54\); those acknowledged events are lost/, 27],
    ['a sealed segment\'s log, its index left', [segment(54, 'log')],
      /problem: \S+00000000000000000054\.log: is missing \(its index is still there\): offsets 54 to 80 have no segment/, 27],
  ];
  for (const [i, [what, removed, pattern, lost]] of cases.entries()) {
    const { copy, stream } = copyOf(dataDir, streamDir, `segments-${i}`);
    for (const name of removed) rmSync(path.join(stream, name));
    const verified = run('verify', copy);
    t.equal(verified.status, DAMAGED, `${what}: the damaged status (${verified.stdout})`);
    t.match(verified.stdout, pattern, `${what}: names the missing file and the offsets lost`);
    t.match(verified.stdout, new RegExp(`\\b${83 - lost} events \\(and ${lost} damaged, unreadable\\)`), `${what}: counts them as damaged`);
    const json = JSON.parse(run('verify', copy, '--json').stdout) as { ok: boolean; damaged_events: number };
    t.same({ ok: json.ok, damaged_events: json.damaged_events }, { ok: false, damaged_events: lost }, `${what}: --json agrees`);
  }
});

t.test('verify judges a missing catalog as the server does: damage when the store held data or was closed cleanly', async (t) => {
  const { dataDir, streamDir } = await cleanStore(t);
  const { copy } = copyOf(dataDir, streamDir, 'no-catalog');
  rmSync(path.join(copy, 'catalog'));
  const withStreams = run('verify', copy);
  t.equal(withStreams.status, DAMAGED, 'stream directories without a catalog: damaged');
  t.match(withStreams.stdout + withStreams.stderr, /catalog is missing \(the data directory holds stream data/);
  // An empty store stopped cleanly: only its crc-checkpoint shows it was opened. The server
  // refuses it (catalog.ts), so verify must not call it sound.
  const empty = path.join(path.dirname(dataDir), 'empty-store');
  const server = await startServerProcess({ dataDir: empty });
  t.equal(await server.stop(), 0);
  t.equal(run('verify', empty).status, 0, 'the empty store verifies');
  rmSync(path.join(empty, 'catalog'));
  rmSync(path.join(empty, 'streams'), { recursive: true, force: true });
  const checkpointOnly = run('verify', empty);
  t.equal(checkpointOnly.status, DAMAGED, 'a clean close\'s crc-checkpoint without a catalog: damaged');
  t.match(checkpointOnly.stdout + checkpointOnly.stderr, /catalog is missing \(the data directory holds a clean close's crc-checkpoint\)/);
});
