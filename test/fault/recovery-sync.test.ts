/**
 * After a process crash, what the next process finds must be made durable before it is shown or
 * built upon. A process killed in the middle of a segment roll leaves the sealed segment's last
 * records, the new segment and its directory entry in the page cache only. The next process reads
 * them (they are there) and appends after them; if it never fsyncs them, a power loss later takes
 * back events it has shown to readers, and with the new segment's directory entry the events it
 * has acknowledged since.
 *
 * Deterministic: child process A (the engine over the journaling layer) rolls a segment while the
 * fsync of the segment it seals never completes, and is killed; process B recovers, reads and
 * appends (acknowledged), and is killed; the journals of both, replayed into a durability model,
 * give what a power loss then leaves; the engine reopens that and must hold B's reads and B's
 * acknowledged appends.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Engine } from '../../src/storage/index.js';
import type { Script } from '../helpers/fault-engine-child.js';
import { replayJournal, DurabilityModel } from 'eventbus/storage/testing';
import { tempDir } from '../helpers/temp-dir.js';

const CHILD = fileURLToPath(new URL('../helpers/fault-engine-child.js', import.meta.url));

/** Runs a child until it prints `ready`, kills it with SIGKILL, and returns what it printed. */
async function runAndKill(script: Script): Promise<Record<string, unknown>[]> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(script)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('{"ready":true}')) resolve();
    });
    void exited.then(() => reject(new Error(`child exited early:\n${output}\n${errors}`)));
  });
  child.kill('SIGKILL');
  await exited;
  return output.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

const payload = (tag: string, i: number) => JSON.stringify({ tag, i, pad: 'x'.repeat(90) });

t.test('a restart after a crash mid-roll makes what it finds durable before building on it', async (t) => {
  const dataDir = tempDir(t, 'recovery-sync-data');
  const workDir = tempDir(t, 'recovery-sync-work');
  const model = DurabilityModel.fromDisk(dataDir);
  const common = { dataDir, segmentSizeBytes: 4096 };

  // A: 10 acknowledged events, then 40 more that roll segment 0 while its fsync hangs; killed.
  await runAndKill({
    ...common,
    journal: path.join(workDir, 'a'),
    steps: [
      { op: 'create', stream: 's' },
      { op: 'append', stream: 's', payloads: Array.from({ length: 10 }, (_, i) => payload('a', i)), wait: true },
      { op: 'hang', pattern: '00000000000000000000\\.log$' },
      { op: 'append', stream: 's', payloads: Array.from({ length: 40 }, (_, i) => payload('a', 10 + i)), wait: false },
      { op: 'sleep', ms: 200 },
    ],
  });
  replayJournal(model, path.join(workDir, 'a'));

  // B: recovers, reads everything (the 50 events are all there: the page cache kept them),
  // appends 5 acknowledged events; killed.
  const b = await runAndKill({
    ...common,
    journal: path.join(workDir, 'b'),
    steps: [
      { op: 'read', stream: 's' },
      { op: 'append', stream: 's', payloads: Array.from({ length: 5 }, (_, i) => payload('b', i)), wait: true },
    ],
  });
  replayJournal(model, path.join(workDir, 'b'));
  const read = new Map((b.find((line) => 'read' in line)!.read as [number, string][]));
  const appended = b.find((line) => 'appended' in line)!.appended as number[];
  t.equal(read.size, 50, 'B found all 50 events A wrote (the page cache survives a kill)');

  // The power fails now.
  model.materialize(model.durableImage('drop'));
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  const after = new Map(engine.read('s', 0, { maxEvents: 100_000 }).map((e) => [e.offset, e.payload.toString()]));
  const lostReads = [...read].filter(([offset, text]) => after.get(offset) !== text).map(([offset]) => offset);
  const lostAppends = appended.filter((offset) => after.get(offset) !== payload('b', offset - appended[0]!));
  t.same(lostReads, [], 'every event B handed to a reader survives the power loss');
  t.same(lostAppends, [], 'every event B acknowledged survives the power loss');
  fs.rmSync(path.join(workDir, 'a'), { force: true });
});
