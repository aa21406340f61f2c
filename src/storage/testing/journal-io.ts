/**
 * JournalIO: a {@link FileIO} over the real file system that appends every operation, as a
 * {@link SimRecord} (sim-io.ts), to a journal file as it goes. It runs inside a real server
 * process (loaded through the EVENTBUS_TEST_IO_MODULE hook of `eventbus serve`); after the test
 * kills that process with SIGKILL, {@link replayJournal} feeds the journal to a
 * {@link DurabilityModel} built from the data directory as it was before the server started,
 * and the model's durable image is what a power loss at the moment of the kill would have left.
 *
 * Each entry is written with one synchronous write() to the journal. SIGKILL keeps the page
 * cache, so the journal needs no fsync. An operation that changes files is journaled as an intent
 * before it runs and as done right after; a kill in between leaves the intent last, and
 * {@link readJournal} then looks at the real file system to tell whether it happened (a model that
 * follows several processes must not miss a write). An intent followed by anything else failed.
 * A sync's start is journaled before the fsync, its completion only after the fsync succeeded.
 * Order is what makes the model right: everything runs on the main thread, so a sync's start
 * covers exactly the writes journaled before it. An entry cut short by the kill is ignored.
 *
 * In a server process, {@link createIO} reads its settings from the environment:
 *
 * - `EVENTBUS_JOURNAL_FILE`: the journal (created; must not be inside the data directory).
 * - `EVENTBUS_JOURNAL_ROOT`: the data directory. Operations outside it are not journaled.
 * - `EVENTBUS_JOURNAL_IGNORE_DIR_SYNC`: optional regular expression. Directory syncs of matching
 *   paths are performed but never journaled as complete, as if the code had forgotten them: a
 *   deliberately broken layer, to prove that a suite catches a missing directory fsync.
 *
 * Journal format: entries back to back, each `u32 header length, u32 data length, header (JSON
 * of the entry without a write's data), data (the bytes of a write)`, little-endian.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCodes, EventBusError, ioError } from '../../errors.js';
import { checkFileIO, checkKnownKeys, checkOptionsObject, checkPath, invalidArgument } from '../api-arguments.js';
import { nodeIO, type FileIO, type FileStat, type OpenMode } from '../fs/io.js';
import type { DurabilityModel, SimRecord } from './sim-io.js';

export interface JournalIOOptions {
  /** The data directory; only operations inside it are journaled. */
  root: string;
  /** The journal file to create. */
  journalFile: string;
  /** The layer underneath. Default: the real file system. */
  inner?: FileIO;
  /** Directory syncs of paths matching this never count (a deliberately broken layer). */
  ignoreDirSync?: RegExp;
}

/** A journal entry: a record, an operation about to happen, or the completion of one. */
type Entry =
  | SimRecord
  | { op: 'intent'; id: number; record: SimRecord }
  | { op: 'open-intent'; id: number; path: string; created: boolean }
  | { op: 'done'; id: number; fd?: number };

export class JournalIO implements FileIO {
  private readonly root: string;
  private readonly inner: FileIO;
  private readonly journalFd: number;
  private readonly ignoreDirSync: RegExp | undefined;
  /** Descriptors of files inside the root (the others are not journaled). */
  private readonly tracked = new Set<number>();
  private nextToken = 1;
  private nextId = 1;
  /** Entries written so far. */
  entries = 0;

  constructor(options: JournalIOOptions) {
    checkOptionsObject(options, 'options');
    if (options === undefined) throw invalidArgument('options', 'an object with root and journalFile', options);
    checkKnownKeys(options, 'options', ['root', 'journalFile', 'inner', 'ignoreDirSync']);
    for (const field of ['root', 'journalFile'] as const) {
      if (typeof options[field] !== 'string' || options[field].length === 0) throw invalidArgument(`options.${field}`, 'a non-empty path', options[field]);
    }
    if (options.inner !== undefined) checkFileIO(options.inner, 'options.inner');
    if (options.ignoreDirSync !== undefined && !(options.ignoreDirSync instanceof RegExp)) throw invalidArgument('options.ignoreDirSync', 'a RegExp', options.ignoreDirSync);
    this.root = path.resolve(options.root);
    this.inner = options.inner ?? nodeIO;
    this.ignoreDirSync = options.ignoreDirSync;
    const journal = path.resolve(options.journalFile);
    if (inside(this.root, journal)) throw invalidArgument('options.journalFile', `a path outside the data directory ${this.root} (the journal would journal itself)`, options.journalFile);
    this.journalFd = fs.openSync(journal, 'wx', 0o600);
  }

  private log(entry: Entry): void {
    const record = entry.op === 'intent' ? entry.record : entry;
    const data = record.op === 'write' ? record.data : null;
    const json = data === null ? entry : entry.op === 'intent' ? { ...entry, record: { ...record, data: undefined } } : { ...entry, data: undefined };
    const header = Buffer.from(JSON.stringify(json), 'utf8');
    const frame = Buffer.allocUnsafe(8 + header.length + (data?.length ?? 0));
    frame.writeUInt32LE(header.length, 0);
    frame.writeUInt32LE(data?.length ?? 0, 4);
    header.copy(frame, 8);
    if (data !== null) data.copy(frame, 8 + header.length);
    let done = 0;
    while (done < frame.length) done += fs.writeSync(this.journalFd, frame, done, frame.length - done);
    this.entries += 1;
  }

  /**
   * Journals `record` as an intent, performs `operation`, and journals its completion. A kill
   * between the two leaves the intent last in the journal; {@link readJournal} then asks the
   * real file system whether it happened.
   */
  private perform<T>(record: SimRecord, operation: () => T): T {
    const id = this.nextId++;
    this.log({ op: 'intent', id, record });
    const result = operation();
    this.log({ op: 'done', id });
    return result;
  }

  private isInside(file: string): boolean {
    return inside(this.root, path.resolve(file));
  }

  open(file: string, mode: OpenMode): number {
    if (!this.isInside(file)) {
      const fd = this.inner.open(file, mode);
      this.tracked.delete(fd);
      return fd;
    }
    const id = this.nextId++;
    this.log({ op: 'open-intent', id, path: path.resolve(file), created: mode === 'wx+' });
    const fd = this.inner.open(file, mode);
    this.tracked.add(fd);
    this.log({ op: 'done', id, fd });
    return fd;
  }

  close(fd: number): void {
    this.inner.close(fd);
    if (this.tracked.delete(fd)) this.log({ op: 'close', fd });
  }

  writev(fd: number, buffers: readonly Buffer[], position: number): number {
    if (!this.tracked.has(fd)) return this.inner.writev(fd, buffers, position);
    const data = Buffer.concat(buffers as Buffer[]);
    const id = this.nextId++;
    this.log({ op: 'intent', id, record: { op: 'write', fd, position, data } });
    const written = this.inner.writev(fd, [data], position);
    if (written === data.length) {
      this.log({ op: 'done', id });
    } else if (written > 0) {
      // A short write: journal what landed as a write of its own.
      this.log({ op: 'intent', id: this.nextId, record: { op: 'write', fd, position, data: data.subarray(0, written) } });
      this.log({ op: 'done', id: this.nextId++ });
    }
    return written;
  }

  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): number {
    return this.inner.read(fd, buffer, offset, length, position);
  }

  size(fd: number): number {
    return this.inner.size(fd);
  }

  truncate(fd: number, length: number): void {
    if (!this.tracked.has(fd)) return this.inner.truncate(fd, length);
    this.perform({ op: 'truncate', fd, length }, () => this.inner.truncate(fd, length));
  }

  async datasync(fd: number): Promise<void> {
    if (!this.tracked.has(fd)) return this.inner.datasync(fd);
    const token = this.nextToken++;
    this.log({ op: 'sync-file-begin', fd, token });
    await this.inner.datasync(fd);
    this.log({ op: 'sync-end', token });
  }

  datasyncNow(fd: number): void {
    if (!this.tracked.has(fd)) return this.inner.datasyncNow(fd);
    const token = this.nextToken++;
    this.log({ op: 'sync-file-begin', fd, token });
    this.inner.datasyncNow(fd);
    this.log({ op: 'sync-end', token });
  }

  async syncDir(dir: string): Promise<void> {
    if (!this.isInside(dir)) return this.inner.syncDir(dir);
    const token = this.nextToken++;
    this.log({ op: 'sync-dir-begin', path: path.resolve(dir), token });
    await this.inner.syncDir(dir);
    if (!this.ignored(dir)) this.log({ op: 'sync-end', token });
  }

  syncDirNow(dir: string): void {
    if (!this.isInside(dir)) return this.inner.syncDirNow(dir);
    const token = this.nextToken++;
    this.log({ op: 'sync-dir-begin', path: path.resolve(dir), token });
    this.inner.syncDirNow(dir);
    if (!this.ignored(dir)) this.log({ op: 'sync-end', token });
  }

  private ignored(dir: string): boolean {
    return this.ignoreDirSync !== undefined && this.ignoreDirSync.test(path.resolve(dir));
  }

  mkdir(dir: string): void {
    if (!this.isInside(dir)) return this.inner.mkdir(dir);
    this.perform({ op: 'mkdir', path: path.resolve(dir) }, () => this.inner.mkdir(dir));
  }

  readdir(dir: string): string[] {
    return this.inner.readdir(dir);
  }

  stat(file: string): FileStat | null {
    return this.inner.stat(file);
  }

  rename(from: string, to: string): void {
    if (!this.isInside(from) && !this.isInside(to)) return this.inner.rename(from, to);
    this.perform({ op: 'rename', from: path.resolve(from), to: path.resolve(to) }, () => this.inner.rename(from, to));
  }

  unlink(file: string): void {
    if (!this.isInside(file)) return this.inner.unlink(file);
    this.perform({ op: 'unlink', path: path.resolve(file) }, () => this.inner.unlink(file));
  }

  /** Removes the tree one entry at a time, deepest first, each journaled as it goes. */
  removeTree(dir: string): void {
    if (!this.isInside(dir)) return this.inner.removeTree(dir);
    const remove = (current: string) => {
      for (const name of fs.readdirSync(current)) {
        const full = path.join(current, name);
        if (fs.lstatSync(full).isDirectory()) remove(full);
        else this.perform({ op: 'unlink', path: full }, () => fs.unlinkSync(full));
      }
      this.perform({ op: 'rmdir', path: current }, () => fs.rmdirSync(current));
    };
    const root = path.resolve(dir);
    if (fs.existsSync(root)) remove(root);
  }

  link(from: string, to: string): void {
    if (!this.isInside(to)) return this.inner.link(from, to);
    this.perform({ op: 'link', from: path.resolve(from), to: path.resolve(to) }, () => this.inner.link(from, to));
  }
}

function inside(root: string, file: string): boolean {
  return file === root || file.startsWith(root + path.sep);
}

/**
 * The records of a journal, in the order they happened: operations journaled as done, and
 * plain records. An operation whose intent is followed by anything but its completion failed
 * and is left out. An intent that is the journal's last entry (the kill came during the
 * operation) is decided by looking at the real file system, which must be as the kill left it.
 * An entry cut short at the end is dropped (its operation never began).
 */
export function readJournal(file: string): SimRecord[] {
  checkPath(file, 'file');
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw invalidArgument('file', 'the path of an existing journal file', file);
    throw ioError(`reading the journal ${file}`, error);
  }
  const entries: Entry[] = [];
  let at = 0;
  while (at + 8 <= bytes.length) {
    const headerLength = bytes.readUInt32LE(at);
    const dataLength = bytes.readUInt32LE(at + 4);
    const end = at + 8 + headerLength + dataLength;
    if (end > bytes.length) break;
    const entry = JSON.parse(bytes.toString('utf8', at + 8, at + 8 + headerLength)) as Entry;
    const record = entry.op === 'intent' ? entry.record : entry;
    if (record.op === 'write') record.data = Buffer.from(bytes.subarray(at + 8 + headerLength, end));
    entries.push(entry);
    at = end;
  }
  const records: SimRecord[] = [];
  const paths = new Map<number, string>();
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.op === 'done') continue;
    if (entry.op !== 'intent' && entry.op !== 'open-intent') {
      if (entry.op === 'close') paths.delete(entry.fd);
      records.push(entry);
      continue;
    }
    const next = entries[i + 1];
    if (next !== undefined) {
      if (next.op !== 'done' || next.id !== entry.id) continue; // failed
      if (entry.op === 'open-intent') {
        paths.set(next.fd!, entry.path);
        records.push({ op: 'open', fd: next.fd!, path: entry.path, created: entry.created });
      } else {
        records.push(entry.record);
      }
      continue;
    }
    // The last entry: did the operation happen before the kill?
    if (entry.op === 'open-intent') {
      // A descriptor the process never saw: the file exists (if created), nothing was written to it.
      if (entry.created && fs.existsSync(entry.path)) records.push({ op: 'open', fd: -1, path: entry.path, created: true }, { op: 'close', fd: -1 });
    } else if (happened(entry.record, (fd) => paths.get(fd) ?? null)) {
      records.push(entry.record);
    }
  }
  return records;
}

/** Whether an operation the kill may have interrupted took effect (its last entry in a journal). */
function happened(record: SimRecord, descriptorPath: (fd: number) => string | null): boolean {
  const exists = (file: string) => fs.existsSync(file);
  switch (record.op) {
    case 'write': {
      const file = descriptorPath(record.fd);
      if (file === null) return true;
      const now = fs.readFileSync(file).subarray(record.position, record.position + record.data.length);
      return now.equals(record.data);
    }
    case 'truncate': {
      const file = descriptorPath(record.fd);
      return file === null || fs.statSync(file).size === record.length;
    }
    case 'mkdir':
    case 'link':
      return exists(record.op === 'mkdir' ? record.path : record.to);
    case 'rename':
      return !exists(record.from) && exists(record.to);
    case 'unlink':
    case 'rmdir':
      return !exists(record.path);
    default:
      return true;
  }
}

/**
 * Applies a journal to `model`; returns the number of records. A model can follow several
 * processes on one data directory in turn (a plain kill keeps the page cache, so what one process
 * left unsynced is still unsynced for the next): give it each process's journal in order.
 */
export function replayJournal(model: DurabilityModel, file: string): number {
  if (typeof model !== 'object' || model === null || typeof (model as Partial<DurabilityModel>).apply !== 'function') {
    throw invalidArgument('model', 'a DurabilityModel (DurabilityModel.fromDisk(root))', model);
  }
  const records = readJournal(file);
  for (const record of records) model.apply(record);
  return records.length;
}

/** For the EVENTBUS_TEST_IO_MODULE hook: settings from the environment (see the module comment). */
export function createIO(inner: FileIO): FileIO {
  const journalFile = process.env.EVENTBUS_JOURNAL_FILE;
  const root = process.env.EVENTBUS_JOURNAL_ROOT;
  for (const [name, value] of [['EVENTBUS_JOURNAL_FILE', journalFile], ['EVENTBUS_JOURNAL_ROOT', root]] as const) {
    if (value === undefined || value === '') {
      throw new EventBusError(ErrorCodes.INVALID_FIELD, `journal-io: set EVENTBUS_JOURNAL_FILE and EVENTBUS_JOURNAL_ROOT (${name} is not set)`, { context: { field: name, expected: 'a path' } });
    }
  }
  const ignore = process.env.EVENTBUS_JOURNAL_IGNORE_DIR_SYNC;
  return new JournalIO({ root: root!, journalFile: journalFile!, inner, ...(ignore === undefined || ignore === '' ? {} : { ignoreDirSync: new RegExp(ignore) }) });
}
