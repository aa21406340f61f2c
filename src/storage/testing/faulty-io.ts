/**
 * FaultyIO: a {@link FileIO} that injects operating-system errors (ENOSPC, EIO, ...) into chosen
 * operations, as LevelDB's and SQLite's test layers do.
 *
 * ```ts
 * const io = new FaultyIO();                       // over the real file system
 * const fault = io.inject({ op: 'writev', errno: 'ENOSPC', path: /\.log$/ });
 * // ... the next write to a .log file fails with ENOSPC, once
 * io.inject({ op: 'datasync', errno: 'EIO', nth: 3, persistent: true }); // 3rd fsync on, every time
 * fault.clear();                                    // or io.clearFaults()
 * ```
 *
 * `datasync` and `syncDir` also match their synchronous forms (`datasyncNow`, `syncDirNow`):
 * a failing fsync fails whichever way the engine happens to run it.
 *
 * A fault counts the operations that match it (kind and, optionally, path) from the moment it is
 * injected, fails the `nth` of them, and then either retires (`persistent` false, the default)
 * or fails every later match until cleared. An injected failure does not reach the layer
 * underneath, except for a write with `partialBytes`, which writes that many bytes first (a
 * short write that ends in an error, as when a disk fills up mid-write).
 *
 * Wrap a SimIO with it (`new FaultyIO(sim)`) to combine errors with simulated power loss: a
 * failed operation then never reaches the durability model.
 */
import path from 'node:path';
import { checkFileIO, checkKnownKeys, checkOptionsObject, FILE_IO_METHODS, invalidArgument, wholeNumberRange } from '../api-arguments.js';
import { nodeIO, type FileIO, type FileStat, type OpenMode } from '../fs/io.js';

/** The operations of {@link FileIO} that can be made to fail. */
export type FaultOp = keyof FileIO;

/**
 * Operations that a fault on another operation matches too: a sync is the same fsync whether
 * the engine awaits it (in the thread pool) or runs it inline, and which one it runs depends
 * on the load (fs/group-commit.ts), so a fault on `datasync` must not miss the inline ones.
 */
const ALSO_MATCHED_BY: Partial<Record<FaultOp, FaultOp>> = { datasyncNow: 'datasync', syncDirNow: 'syncDir' };

/** Errors that can be injected, with their errno numbers on Linux. */
const ERRNO = {
  ENOSPC: -28, EIO: -5, EDQUOT: -122, EACCES: -13, EMFILE: -24, EROFS: -30,
  // What link() fails with on file systems without hard links (FAT, exFAT, some SMB and FUSE mounts).
  EPERM: -1, EMLINK: -31, ENOTSUP: -95,
} as const;
export type FaultErrno = keyof typeof ERRNO;

/** What to fail. */
export interface FaultSpec {
  /**
   * The operation, or several. `datasync` matches every fdatasync of a file, in both forms (the
   * engine runs a lone writer's fsync inline, with `datasyncNow`), and `syncDir` every fsync of a
   * directory (`syncDirNow` too); `datasyncNow` and `syncDirNow` match only the synchronous form.
   */
  op: FaultOp | readonly FaultOp[];
  errno: FaultErrno;
  /** Fail the nth matching operation (1-based, counted from injection). Default 1. */
  nth?: number;
  /** Keep failing every match after the nth, until cleared. Default false (fail once). */
  persistent?: boolean;
  /** Only operations on paths matching this (the file of a descriptor counts as its path). */
  path?: string | RegExp;
  /** For `writev`: write this many bytes of the request before failing. Default 0. */
  partialBytes?: number;
}

/** A fault in force; {@link clear} removes it. */
export interface Fault {
  readonly spec: Readonly<FaultSpec>;
  /** Matching operations seen since injection. */
  readonly matched: number;
  /** Operations this fault failed. */
  readonly fired: number;
  clear(): void;
}

interface ActiveFault extends Fault {
  matched: number;
  fired: number;
}

const FAULT_SPEC_KEYS: readonly (keyof FaultSpec)[] = ['op', 'errno', 'nth', 'persistent', 'path', 'partialBytes'];

/**
 * A fault's spec, named `field` in refusals (`spec`, or `faults[2]` in a control file): known keys
 * (a misspelt `persistent` would fail once), known operations and errnos, counts (`nth` at least
 * 1, `partialBytes` at least 0). INVALID_FIELD naming the part otherwise.
 */
export function checkFaultSpec(spec: unknown, field = 'spec'): asserts spec is FaultSpec {
  checkOptionsObject(spec, field);
  if (spec === undefined) throw invalidArgument(field, 'a FaultSpec ({ op, errno, … })', spec);
  checkKnownKeys(spec, field, FAULT_SPEC_KEYS);
  const ops: unknown[] = Array.isArray(spec.op) ? spec.op : [spec.op];
  if (ops.length === 0 || !ops.every((op) => (FILE_IO_METHODS as readonly unknown[]).includes(op))) {
    throw invalidArgument(`${field}.op`, `one of ${FILE_IO_METHODS.join(', ')}, or an array of them`, spec.op);
  }
  if (!Object.hasOwn(ERRNO, spec.errno as string)) throw invalidArgument(`${field}.errno`, `one of ${Object.keys(ERRNO).join(', ')}`, spec.errno);
  const nth = spec.nth ?? 1;
  if (!(Number.isSafeInteger(nth) && (nth as number) >= 1)) throw invalidArgument(`${field}.nth`, wholeNumberRange(1), nth);
  if (spec.persistent !== undefined && typeof spec.persistent !== 'boolean') throw invalidArgument(`${field}.persistent`, 'a boolean', spec.persistent);
  if (spec.path !== undefined && typeof spec.path !== 'string' && !(spec.path instanceof RegExp)) throw invalidArgument(`${field}.path`, 'a path or a RegExp', spec.path);
  if (spec.partialBytes !== undefined && !(Number.isSafeInteger(spec.partialBytes) && (spec.partialBytes as number) >= 0)) {
    throw invalidArgument(`${field}.partialBytes`, wholeNumberRange(0), spec.partialBytes);
  }
}

/** An error shaped like the ones Node's fs functions throw. */
export function systemError(errno: FaultErrno, syscall: string, file?: string): NodeJS.ErrnoException {
  if (!Object.hasOwn(ERRNO, errno)) throw invalidArgument('errno', `one of ${Object.keys(ERRNO).join(', ')}`, errno);
  const where = file === undefined ? '' : ` '${file}'`;
  return Object.assign(new Error(`${errno}: injected fault, ${syscall}${where}`), { code: errno, errno: ERRNO[errno], syscall, path: file });
}

export class FaultyIO implements FileIO {
  private readonly faults = new Set<ActiveFault>();
  private readonly fdPaths = new Map<number, string>();

  constructor(private readonly inner: FileIO = nodeIO) {
    checkFileIO(inner, 'inner');
  }

  /** Adds a fault; it takes effect from the next operation. Throws INVALID_FIELD for a spec that would fail something else than asked. */
  inject(spec: FaultSpec): Fault {
    checkFaultSpec(spec);
    const nth = spec.nth ?? 1;
    const faults = this.faults;
    const fault: ActiveFault = {
      spec: { ...spec, nth },
      matched: 0,
      fired: 0,
      clear() {
        faults.delete(fault);
      },
    };
    faults.add(fault);
    return fault;
  }

  /** Removes every fault. */
  clearFaults(): void {
    this.faults.clear();
  }

  /** The path a descriptor was opened with (undefined if unknown). */
  pathOf(fd: number): string | undefined {
    return this.fdPaths.get(fd);
  }

  /** Returns the fault to fire for this operation, if any, after counting it against every match. */
  private check(op: FaultOp, file: string | undefined): ActiveFault | null {
    let firing: ActiveFault | null = null;
    for (const fault of this.faults) {
      const ops = typeof fault.spec.op === 'string' ? [fault.spec.op] : fault.spec.op;
      const general = ALSO_MATCHED_BY[op];
      if (!ops.includes(op) && (general === undefined || !ops.includes(general))) continue;
      const pattern = fault.spec.path;
      if (pattern !== undefined) {
        if (file === undefined) continue;
        if (typeof pattern === 'string' ? path.resolve(pattern) !== path.resolve(file) : !pattern.test(file)) continue;
      }
      fault.matched += 1;
      const nth = fault.spec.nth!;
      if (fault.matched === nth || (fault.spec.persistent === true && fault.matched > nth)) {
        firing ??= fault;
      }
    }
    if (firing !== null) {
      firing.fired += 1;
      if (firing.spec.persistent !== true) this.faults.delete(firing);
    }
    return firing;
  }

  private fail(op: FaultOp, file: string | undefined): void {
    const fault = this.check(op, file);
    if (fault !== null) throw systemError(fault.spec.errno, op, file);
  }

  open(file: string, mode: OpenMode): number {
    this.fail('open', file);
    const fd = this.inner.open(file, mode);
    this.fdPaths.set(fd, path.resolve(file));
    return fd;
  }

  close(fd: number): void {
    const file = this.fdPaths.get(fd);
    this.fdPaths.delete(fd);
    this.fail('close', file);
    this.inner.close(fd);
  }

  writev(fd: number, buffers: readonly Buffer[], position: number): number {
    const file = this.fdPaths.get(fd);
    const fault = this.check('writev', file);
    if (fault !== null) {
      const partial = fault.spec.partialBytes ?? 0;
      if (partial > 0) {
        const all = Buffer.concat(buffers as Buffer[]);
        this.inner.writev(fd, [all.subarray(0, Math.min(partial, all.length))], position);
      }
      throw systemError(fault.spec.errno, 'write', file);
    }
    return this.inner.writev(fd, buffers, position);
  }

  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): number {
    this.fail('read', this.fdPaths.get(fd));
    return this.inner.read(fd, buffer, offset, length, position);
  }

  size(fd: number): number {
    this.fail('size', this.fdPaths.get(fd));
    return this.inner.size(fd);
  }

  truncate(fd: number, length: number): void {
    this.fail('truncate', this.fdPaths.get(fd));
    this.inner.truncate(fd, length);
  }

  datasync(fd: number): Promise<void> {
    const file = this.fdPaths.get(fd);
    const fault = this.check('datasync', file);
    if (fault !== null) return Promise.reject(systemError(fault.spec.errno, 'fdatasync', file));
    return this.inner.datasync(fd);
  }

  syncDir(dir: string): Promise<void> {
    const fault = this.check('syncDir', dir);
    if (fault !== null) return Promise.reject(systemError(fault.spec.errno, 'fsync', dir));
    return this.inner.syncDir(dir);
  }

  datasyncNow(fd: number): void {
    this.fail('datasyncNow', this.fdPaths.get(fd));
    this.inner.datasyncNow(fd);
  }

  syncDirNow(dir: string): void {
    this.fail('syncDirNow', dir);
    this.inner.syncDirNow(dir);
  }

  mkdir(dir: string): void {
    this.fail('mkdir', dir);
    this.inner.mkdir(dir);
  }

  readdir(dir: string): string[] {
    this.fail('readdir', dir);
    return this.inner.readdir(dir);
  }

  stat(file: string): FileStat | null {
    this.fail('stat', file);
    return this.inner.stat(file);
  }

  rename(from: string, to: string): void {
    this.fail('rename', to);
    this.inner.rename(from, to);
  }

  unlink(file: string): void {
    this.fail('unlink', file);
    this.inner.unlink(file);
  }

  removeTree(dir: string): void {
    this.fail('removeTree', dir);
    this.inner.removeTree(dir);
  }

  link(from: string, to: string): void {
    this.fail('link', to);
    this.inner.link(from, to);
  }
}
