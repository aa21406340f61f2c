/**
 * One convention for the offline commands: `--data` everywhere, defaulting like `serve`
 * (EVENTBUS_DATA, then ./data); `verify PATH` still works; `--json` prints snake_case fields as
 * on the wire (`snapshot --json` exactly what snapshot_db answers, with absolute_path).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { MAIN, startServerProcess, tempDir } from '../helpers/server-process.js';

function run(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]) {
  const base = { ...process.env };
  delete base.EVENTBUS_DATA;
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', cwd, timeout: 30_000, env: { ...base, ...env } });
}

t.test('offline commands default to EVENTBUS_DATA, then ./data, and print snake_case JSON', async (t) => {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const server = await startServerProcess({ dataDir, cwd: dir });
  const client = await EventBusClient.connect({ port: server.port });
  await client.createStream('s');
  await client.writeEvent('s', { n: 1 });
  await client.close();
  t.equal(await server.stop(), 0);

  // ./data in the working directory, no --data.
  const snapshot = run(dir, {}, 'snapshot', '--output', 'snaps', '--json');
  t.equal(snapshot.status, 0, snapshot.stderr);
  const result = JSON.parse(snapshot.stdout) as Record<string, unknown>;
  t.same(Object.keys(result), ['path', 'absolute_path', 'created_at', 'streams', 'events', 'bytes', 'linked_files', 'copied_files', 'copy_fallback'], 'the fields of snapshot_db, in its order');
  t.match(result.path, /^snapshot-/, 'path relative to --output, as snapshot_db is relative to its root');
  t.equal(result.absolute_path, path.join(dir, 'snaps', result.path as string));
  t.ok(existsSync(result.absolute_path as string));
  t.equal(result.streams, 1);

  // EVENTBUS_DATA from anywhere else.
  const elsewhere = tempDir(t);
  const fromEnv = run(elsewhere, { EVENTBUS_DATA: dataDir }, 'snapshot', '--output', path.join(dir, 'snaps2'), '--json');
  t.equal(fromEnv.status, 0, fromEnv.stderr);
  t.match(JSON.parse(fromEnv.stdout).absolute_path, new RegExp(`^${path.join(dir, 'snaps2')}/snapshot-`));
  const verifyEnv = run(elsewhere, { EVENTBUS_DATA: dataDir }, 'verify');
  t.equal(verifyEnv.status, 0, 'verify with no path checks EVENTBUS_DATA');
  t.match(verifyEnv.stdout, `OK: data directory ${dataDir}`);
  const verifyDefault = run(dir, {}, 'verify');
  t.equal(verifyDefault.status, 0, 'verify with no path checks ./data');
  t.match(verifyDefault.stdout, `OK: data directory ${dataDir}`);
  const flagBeatsEnv = run(elsewhere, { EVENTBUS_DATA: path.join(elsewhere, 'nope') }, 'verify', '--data', dataDir);
  t.equal(flagBeatsEnv.status, 0, '--data beats EVENTBUS_DATA');
  const positional = run(elsewhere, { EVENTBUS_DATA: path.join(elsewhere, 'nope') }, 'verify', result.absolute_path as string, '--json');
  t.equal(positional.status, 0, 'verify PATH still works (and beats EVENTBUS_DATA)');
  const report = JSON.parse(positional.stdout) as Record<string, unknown>;
  t.same(Object.keys(report), ['path', 'kind', 'ok', 'streams', 'segments', 'events', 'truncated_events', 'damaged_events', 'files', 'problems', 'notes']);
  t.same([report.path, report.kind, report.ok], [result.absolute_path, 'snapshot', true]);
  const both = run(elsewhere, {}, 'verify', dataDir, '--data', dataDir);
  t.equal(both.status, 64, 'a path and --data together is a usage error');
  t.match(both.stderr, /one path/);

  const restoredDir = path.join(elsewhere, 'restored');
  const restored = run(elsewhere, { EVENTBUS_DATA: restoredDir }, 'restore', result.absolute_path as string, '--json');
  t.equal(restored.status, 0, restored.stderr);
  t.same(JSON.parse(restored.stdout), { snapshot: result.absolute_path, data_dir: restoredDir, streams: 1, events: 1, files: JSON.parse(restored.stdout).files, bytes: JSON.parse(restored.stdout).bytes }, 'restore --json: snake_case, into EVENTBUS_DATA');
});

t.test('help shows the --data default and its variable for every offline command', async (t) => {
  for (const command of ['snapshot', 'verify', 'restore']) {
    const help = spawnSync(process.execPath, [MAIN, command, '--help'], { encoding: 'utf8' });
    t.equal(help.status, 0);
    t.match(help.stdout, /--data <dir>.*default: \.\/data/s, `${command}: default`);
    t.match(help.stdout, /EVENTBUS_DATA/, `${command}: variable`);
  }
});
