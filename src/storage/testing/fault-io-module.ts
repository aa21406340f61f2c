/**
 * Disk errors inside a real server process, for the EVENTBUS_TEST_IO_MODULE hook of
 * `eventbus serve`: a {@link FaultyIO} (faulty-io.ts) whose faults a test sets and clears while
 * the server runs, through a control file.
 *
 * - `EVENTBUS_FAULT_CONTROL`: a JSON file `{"generation": n, "faults": [FaultSpec...]}` (a `path`
 *   is the source of a regular expression). The layer polls it every 10 ms; when `generation`
 *   grows it replaces every fault with the listed ones and writes `<control>.ack` holding
 *   `{"generation": n, "fired": [...]}` (how often each fault has fired, kept up to date).
 *   {@link setFaults} does both sides of that for a test.
 * - `EVENTBUS_JOURNAL_FILE` and `EVENTBUS_JOURNAL_ROOT` (optional): the faulty layer sits on the
 *   journaling layer (journal-io.ts), so that a failed operation never reaches the journal and a
 *   test can check, by a simulated power loss, that nothing unsynced was acknowledged.
 */
import fs from 'node:fs';
import type { FileIO } from '../fs/io.js';
import { FaultyIO, type Fault, type FaultSpec } from './faulty-io.js';
import { JournalIO } from './journal-io.js';

/** A fault as written in the control file: `path` is a regular expression's source. */
export type FaultJson = Omit<FaultSpec, 'path'> & { path?: string };

interface Control {
  generation: number;
  faults: FaultJson[];
}

export function createIO(inner: FileIO): FileIO {
  const control = process.env.EVENTBUS_FAULT_CONTROL;
  if (control === undefined || control === '') throw new Error('fault-io-module: set EVENTBUS_FAULT_CONTROL');
  const journalFile = process.env.EVENTBUS_JOURNAL_FILE;
  const root = process.env.EVENTBUS_JOURNAL_ROOT;
  const base = journalFile !== undefined && journalFile !== '' && root !== undefined ? new JournalIO({ root, journalFile, inner }) : inner;
  const io = new FaultyIO(base);
  let applied = -1;
  let faults: Fault[] = [];
  let reported = '';
  const poll = () => {
    let current: Control;
    try {
      current = JSON.parse(fs.readFileSync(control, 'utf8')) as Control;
    } catch {
      return; // not there yet, or being replaced
    }
    if (current.generation > applied) {
      io.clearFaults();
      faults = current.faults.map((f) => io.inject({ ...f, ...(f.path === undefined ? {} : { path: new RegExp(f.path) }) }));
      applied = current.generation;
    }
    const ack = JSON.stringify({ generation: applied, fired: faults.map((f) => f.fired) });
    if (ack !== reported) {
      fs.writeFileSync(`${control}.ack.tmp`, ack);
      fs.renameSync(`${control}.ack.tmp`, `${control}.ack`);
      reported = ack;
    }
  };
  poll();
  setInterval(poll, 10).unref();
  return io;
}

let generation = 0;

/** Replaces the faults of the server using `control`, and waits until it has applied them. */
export async function setFaults(control: string, faults: FaultJson[], timeoutMs = 5000): Promise<void> {
  const wanted = ++generation;
  fs.writeFileSync(`${control}.tmp`, JSON.stringify({ generation: wanted, faults }));
  fs.renameSync(`${control}.tmp`, control);
  const started = Date.now();
  while (faultState(control).generation < wanted) {
    if (Date.now() - started > timeoutMs) throw new Error(`the server did not apply fault generation ${wanted} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** What the server last reported: the generation in force and how often each fault fired. */
export function faultState(control: string): { generation: number; fired: number[] } {
  try {
    return JSON.parse(fs.readFileSync(`${control}.ack`, 'utf8')) as { generation: number; fired: number[] };
  } catch {
    return { generation: -1, fired: [] };
  }
}
