/**
 * Disk errors inside a real server process, for the EVENTBUS_TEST_IO_MODULE hook of
 * `eventbus serve`: a {@link FaultyIO} (faulty-io.ts) whose faults a test sets and clears while
 * the server runs, through a control file.
 *
 * - `EVENTBUS_FAULT_CONTROL`: a JSON file `{"generation": n, "faults": [FaultSpec...]}` (a `path`
 *   is the source of a regular expression). The layer polls it every 10 ms; when `generation`
 *   grows it replaces every fault with the listed ones and writes `<control>.ack` holding
 *   `{"generation": n, "fired": [...]}` (how often each fault has fired, kept up to date).
 *   A list that FaultyIO.inject would refuse (an unknown key, an `nth` below 1, a `path` that is
 *   no regular expression, ...) is refused whole: the faults in force stay, and the ack says why
 *   (`"refused": {"generation", "code", "reason", "field"}`). Checked before any fault is
 *   replaced, so a bad list can neither half-apply nor throw in the server's timer (which ended
 *   the server process). {@link setFaults} does both sides of that for a test, and checks the
 *   list itself before writing it.
 * - `EVENTBUS_JOURNAL_FILE` and `EVENTBUS_JOURNAL_ROOT` (optional): the faulty layer sits on the
 *   journaling layer (journal-io.ts), so that a failed operation never reaches the journal and a
 *   test can check, by a simulated power loss, that nothing unsynced was acknowledged.
 */
import fs from 'node:fs';
import { ErrorCodes, EventBusError, isEventBusError, type ErrorCode } from '../../errors.js';
import { checkPath, checkWholeNumber, invalidArgument } from '../api-arguments.js';
import type { FileIO } from '../fs/io.js';
import { checkFaultSpec, FaultyIO, type Fault, type FaultSpec } from './faulty-io.js';
import { JournalIO } from './journal-io.js';

/** A fault as written in the control file: `path` is a regular expression's source. */
export type FaultJson = Omit<FaultSpec, 'path'> & { path?: string };

interface Control {
  generation: number;
  faults: FaultJson[];
}

/** A control file's list refused by the server: the faults in force stayed. */
export interface FaultRefusal {
  generation: number;
  code: string;
  reason: string;
  field: string | undefined;
}

/** What the server last reported (`<control>.ack`). */
export interface FaultState {
  /** The generation in force (-1: none yet). */
  generation: number;
  /** How often each fault of that generation fired. */
  fired: number[];
  /** The last list refused, if any. */
  refused?: FaultRefusal;
}

/**
 * The faults of a control file, checked as FaultyIO.inject checks each (`faults[i].nth`, …),
 * with `path` the source of a regular expression (JSON has no RegExp). INVALID_FIELD otherwise.
 */
function checkFaultList(faults: unknown, field = 'faults'): asserts faults is FaultJson[] {
  if (!Array.isArray(faults)) throw invalidArgument(field, 'an array of faults ({ op, errno, nth?, persistent?, path?, partialBytes? })', faults);
  for (let i = 0; i < faults.length; i++) {
    const at = `${field}[${i}]`;
    checkFaultSpec(faults[i], at);
    const source: unknown = (faults[i] as FaultJson).path;
    if (source === undefined) continue;
    if (typeof source !== 'string') throw invalidArgument(`${at}.path`, 'the source of a regular expression (a string)', source);
    try {
      new RegExp(source);
    } catch {
      throw invalidArgument(`${at}.path`, 'the source of a regular expression', source);
    }
  }
}

/** A control file's contents, checked: `{ generation, faults }`. */
function checkControl(value: unknown): asserts value is Control {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidArgument('control', 'an object { generation, faults }', value);
  const { generation, faults } = value as Partial<Control>;
  checkWholeNumber(generation, 'generation', 0);
  checkFaultList(faults);
}

export function createIO(inner: FileIO): FileIO {
  const control = process.env.EVENTBUS_FAULT_CONTROL;
  if (control === undefined || control === '') {
    throw new EventBusError(ErrorCodes.INVALID_FIELD, 'fault-io-module: set EVENTBUS_FAULT_CONTROL to the path of the control file', {
      context: { field: 'EVENTBUS_FAULT_CONTROL', expected: 'the path of the control file' },
    });
  }
  const journalFile = process.env.EVENTBUS_JOURNAL_FILE;
  const root = process.env.EVENTBUS_JOURNAL_ROOT;
  const base = journalFile !== undefined && journalFile !== '' && root !== undefined ? new JournalIO({ root, journalFile, inner }) : inner;
  const io = new FaultyIO(base);
  let applied = -1;
  let faults: Fault[] = [];
  let refused: FaultRefusal | undefined;
  let reported = '';
  const poll = () => {
    let current: unknown;
    try {
      current = JSON.parse(fs.readFileSync(control, 'utf8'));
    } catch {
      return; // not there yet, or being replaced
    }
    const generation = (current as Partial<Control> | null)?.generation;
    const fresh = typeof generation !== 'number' || (generation > applied && generation !== refused?.generation);
    if (fresh) {
      try {
        checkControl(current);
        io.clearFaults();
        faults = current.faults.map((f) => io.inject({ ...f, ...(f.path === undefined ? {} : { path: new RegExp(f.path) }) }));
        applied = current.generation;
      } catch (error) {
        if (!isEventBusError(error)) throw error;
        const field = (error.context as { field?: string } | undefined)?.field;
        refused = { generation: typeof generation === 'number' ? generation : -1, code: error.code, reason: error.reason, field };
      }
    }
    const ack = JSON.stringify({ generation: applied, fired: faults.map((f) => f.fired), ...(refused === undefined ? {} : { refused }) });
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

/**
 * Replaces the faults of the server using `control`, and waits until it has applied them. The
 * list is checked first (INVALID_FIELD naming `faults[i].…`, nothing written); a list the server
 * refuses anyway rejects with its refusal.
 */
export async function setFaults(control: string, faults: FaultJson[], timeoutMs = 5000): Promise<void> {
  checkPath(control, 'control');
  checkFaultList(faults);
  checkWholeNumber(timeoutMs, 'timeoutMs', 1);
  const wanted = ++generation;
  fs.writeFileSync(`${control}.tmp`, JSON.stringify({ generation: wanted, faults }));
  fs.renameSync(`${control}.tmp`, control);
  const started = Date.now();
  for (let state = faultState(control); state.generation < wanted; state = faultState(control)) {
    if (state.refused?.generation === wanted) {
      throw new EventBusError(state.refused.code as ErrorCode, `the server refused the faults: ${state.refused.reason}`, { context: { field: state.refused.field } });
    }
    if (Date.now() - started > timeoutMs) throw new Error(`the server did not apply fault generation ${wanted} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** What the server last reported: the generation in force, how often each fault fired, the last list it refused. */
export function faultState(control: string): FaultState {
  checkPath(control, 'control');
  try {
    return JSON.parse(fs.readFileSync(`${control}.ack`, 'utf8')) as FaultState;
  } catch {
    return { generation: -1, fired: [] };
  }
}
