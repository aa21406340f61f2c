/**
 * A child process that runs the storage engine over the journaling layer (journal-io.ts), for
 * tests that need a real SIGKILL of an engine in a precise state. Run as
 *
 *   node dist/test/helpers/fault-engine-child.js '<json Script>'
 *
 * It performs the script's steps, writes one JSON line per step result to stdout, then `{"ready":
 * true}`, and waits to be killed. `hangSync` makes every fdatasync of a matching path hang
 * forever (a sync round that never completes, as when the process dies in the middle of one).
 */
import { Engine } from '../../src/storage/index.js';
import type { FileIO } from '../../src/storage/fs/io.js';
import { JournalIO } from 'eventbus/storage/testing';

export interface Script {
  dataDir: string;
  journal: string;
  segmentSizeBytes: number;
  steps: Step[];
}

export type Step =
  /** Creates the stream (awaited). */
  | { op: 'create'; stream: string }
  /** Appends payloads; `wait` awaits the acknowledgement (else they are written, not awaited). */
  | { op: 'append'; stream: string; payloads: string[]; wait: boolean }
  /** Reads the whole stream: prints `{"read": [[offset, payload]...]}`. */
  | { op: 'read'; stream: string }
  /** Waits (lets queued writes reach the files). */
  | { op: 'sleep'; ms: number }
  /** From now on, fdatasync of files matching this regular expression never completes. */
  | { op: 'hang'; pattern: string };

const script = JSON.parse(process.argv[2]!) as Script;
const journal = new JournalIO({ root: script.dataDir, journalFile: script.journal });
let hang: RegExp | null = null;
const paths = new Map<number, string>();
const io: FileIO = {
  ...bind(journal),
  open(file, mode) {
    const fd = journal.open(file, mode);
    paths.set(fd, file);
    return fd;
  },
  datasync(fd) {
    if (hang !== null && hang.test(paths.get(fd) ?? '')) return new Promise(() => {});
    return journal.datasync(fd);
  },
};

const engine = await Engine.open({ dataDir: script.dataDir, io, segmentSizeBytes: script.segmentSizeBytes, retentionIntervalMs: 0 });
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
for (const step of script.steps) {
  switch (step.op) {
    case 'create':
      await engine.createStream(step.stream);
      break;
    case 'append': {
      const appended = engine.appendMany(step.stream, step.payloads.map((p) => Buffer.from(p)));
      if (step.wait) print({ appended: (await appended).map((e) => e.offset) });
      else appended.catch(() => {});
      break;
    }
    case 'read':
      print({ read: engine.read(step.stream, 0, { maxEvents: 100_000 }).map((e) => [e.offset, e.payload.toString()]) });
      break;
    case 'sleep':
      await new Promise((resolve) => setTimeout(resolve, step.ms));
      break;
    case 'hang':
      hang = new RegExp(step.pattern);
      break;
  }
}
print({ ready: true });
setInterval(() => {}, 1 << 30);

/** The methods of a FileIO object, bound to it (so they can be spread into another object). */
function bind(target: FileIO): FileIO {
  const out: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(Object.getPrototypeOf(target)) as (keyof FileIO)[]) {
    const value = target[key];
    if (typeof value === 'function' && (key as string) !== 'constructor') out[key] = (value as (...args: unknown[]) => unknown).bind(target);
  }
  return out as unknown as FileIO;
}
