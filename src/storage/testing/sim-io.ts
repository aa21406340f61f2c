/**
 * SimIO: a {@link FileIO} that remembers what is durable, and can simulate a power loss.
 *
 * Modelled on LevelDB's fault_injection_test and SQLite's crash tests: every operation is performed
 * on the real file system (so the engine under test sees real files), and also described to a
 * {@link DurabilityModel}, which tracks, for every file, the contents as of its last completed
 * fsync, and for every directory, its entries as of its last completed directory fsync.
 * {@link SimIO.crash} then closes every descriptor and rewrites the real directory tree under
 * `root` to that durable state:
 *
 * - file contents go back to what the last completed `datasync`/`datasyncNow` covered (unsynced
 *   appends dropped, unsynced truncations undone, unsynced overwrites reverted);
 * - directory entries go back to the last completed `syncDir`/`syncDirNow` of their directory:
 *   files and directories created since are gone, unlinked or renamed-away names come back with
 *   their durable contents, and a name renamed over keeps its old file;
 * - a fsync that had been started but had not completed counts for nothing.
 *
 * Two crash modes: `drop` (nothing unsynced survives: the model of LevelDB's test) and `torn`
 * (for each file and each directory, an arbitrary prefix of the operations since its last sync
 * survives, the last write possibly cut part-way, as when a disk persists writes in order but
 * stops mid-way). Both are states a real power loss can leave.
 *
 * The model is fed plain records ({@link SimRecord}): the FileIO calls that succeeded, plus the
 * start and completion of each sync. That is deliberate: to test recovery across a real process
 * kill (issue 6), a layer can append the same records to a journal file as it goes, and an
 * external harness can replay them into a DurabilityModel after SIGKILL and call
 * {@link DurabilityModel.materialize}. Here, in-process, SimIO feeds the model directly.
 *
 * Directory operations inside `root` only are modelled; a mutation outside it (or on a descriptor
 * it did not open) is refused with INVALID_FIELD before anything is done: a test bug. Renames across directories are modelled as an unlink in one and a link in the other,
 * each durable with its own directory's fsync (POSIX promises no more). The engine never renames
 * across directories.
 *
 * The fault model, in short (docs/research.md has it in full). A crash CAN leave: any file back
 * at its last completed fsync, or (torn) with a prefix of its later writes, the last cut at any
 * byte; any directory back at its last completed fsync, or (torn) with a prefix of its later
 * entry changes; files and directories independently of each other (data durable under a name
 * that is not, or a durable name over data that is not). A crash CANNOT leave: a change to bytes
 * or entries that were fsynced (no media errors or bit rot: test/storage/corruption.test.ts flips
 * bits itself), the writes of one file out of order (torn keeps a prefix), half a rename within a
 * directory, or a sync that lied (but `ignoreFileSync` / `ignoreDirSync` make every sync lie, to
 * prove that a test can fail). Failing syncs and full disks are faulty-io.ts's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { assert, ErrorCodes, EventBusError } from '../../errors.js';
import { checkFileIO, checkKnownKeys, checkOptionsObject, invalidArgument, wholeNumberRange } from '../api-arguments.js';
import { nodeIO, type FileIO, type FileStat, type OpenMode } from '../fs/io.js';
import { randomFunction, type RandomSource } from './random.js';

/** How unsynced state fares in a crash. */
export type CrashMode = 'drop' | 'torn';

/**
 * One thing that happened, as the model needs to know it. Paths are absolute. Every record
 * describes an operation that succeeded on the real file system.
 */
export type SimRecord =
  | { op: 'open'; fd: number; path: string; created: boolean }
  | { op: 'close'; fd: number }
  | { op: 'write'; fd: number; position: number; data: Buffer }
  | { op: 'truncate'; fd: number; length: number }
  | { op: 'mkdir'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; path: string }
  | { op: 'rmdir'; path: string }
  | { op: 'link'; from: string; to: string }
  /** A file sync began: it covers every write and truncate of that file recorded before it. */
  | { op: 'sync-file-begin'; fd: number; token: number }
  /** A directory sync began: it covers every entry change of that directory recorded before it. */
  | { op: 'sync-dir-begin'; path: string; token: number }
  /** The sync with this token completed successfully. */
  | { op: 'sync-end'; token: number };

interface FileNode {
  kind: 'file';
  id: number;
  durable: Bytes;
  /** Writes and truncates since the durable state, in order, tagged with their record number. */
  pending: ({ seq: number; position: number; data: Buffer } | { seq: number; length: number })[];
}

interface DirNode {
  kind: 'dir';
  id: number;
  durable: Map<string, Node>;
  /**
   * Entry changes since the durable state, in order; `node` null removes the name. A rename
   * within the directory is one item of two changes: it is atomic, even in a torn crash.
   */
  pending: { seq: number; changes: { name: string; node: Node | null }[] }[];
}

type Node = FileNode | DirNode;

/** A growable byte array (durable file contents), amortised O(1) per appended byte. */
class Bytes {
  buffer: Buffer;
  length: number;

  constructor(initial: Buffer = Buffer.alloc(0)) {
    this.buffer = Buffer.from(initial);
    this.length = initial.length;
  }

  clone(): Bytes {
    return new Bytes(this.view());
  }

  view(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  write(position: number, data: Buffer): void {
    this.resize(Math.max(this.length, position + data.length));
    data.copy(this.buffer, position);
  }

  /** Sets the length; bytes beyond the old length read as zero, as after ftruncate. */
  resize(length: number): void {
    if (length > this.buffer.length) {
      const bigger = Buffer.alloc(Math.max(length, this.buffer.length * 2));
      this.buffer.copy(bigger, 0, 0, this.length);
      this.buffer = bigger;
    } else if (length > this.length) {
      this.buffer.fill(0, this.length, length);
    }
    this.length = length;
  }
}

/** What a crash leaves: every path under the root, relative, with its file node or directory. */
export interface DurableImage {
  dirs: string[];
  files: { path: string; node: number; contents: Buffer }[];
}

/**
 * What is durable, derived from {@link SimRecord}s alone. Deterministic: the same records give
 * the same durable state (and, in `torn` mode, the same random source gives the same tear).
 */
export class DurabilityModel {
  readonly root: string;
  private nextId = 1;
  private seq = 0;
  private readonly rootNode: DirNode;
  /** The live namespace: every path under the root that exists now. */
  private readonly paths = new Map<string, Node>();
  private readonly fds = new Map<number, FileNode>();
  private readonly syncs = new Map<number, { node: Node; seq: number }>();

  private constructor(root: string) {
    this.root = path.resolve(root);
    this.rootNode = this.newDir();
    this.paths.set(this.root, this.rootNode);
  }

  /**
   * A model whose durable state is the tree under `root` as it is now (read from disk). `root`
   * must be an existing directory of files and directories (INVALID_FIELD `root` otherwise).
   */
  static fromDisk(root: string): DurabilityModel {
    checkRoot(root, 'root');
    const model = new DurabilityModel(root);
    const byInode = new Map<string, FileNode>();
    const scan = (dir: string, node: DirNode) => {
      for (const name of fs.readdirSync(dir).sort()) {
        const full = path.join(dir, name);
        const stat = fs.lstatSync(full);
        let child: Node;
        if (stat.isDirectory()) {
          child = model.newDir();
          scan(full, child);
        } else if (stat.isFile()) {
          const key = `${stat.dev}:${stat.ino}`;
          child = byInode.get(key) ?? model.newFile(fs.readFileSync(full));
          byInode.set(key, child);
        } else {
          // A symbolic link (or a socket, a device): the model knows files and directories only.
          throw new EventBusError(ErrorCodes.INVALID_FIELD, `the simulated root may hold only files and directories: ${full} is ${stat.isSymbolicLink() ? 'a symbolic link' : 'neither'} (the simulated disk does not model it)`, {
            context: { field: 'options.root', expected: 'a directory tree of files and directories only' },
          });
        }
        node.durable.set(name, child);
        model.paths.set(full, child);
      }
    };
    scan(model.root, model.rootNode);
    return model;
  }

  /**
   * Applies one record. Throws INVALID_FIELD (`record`) if the record is inconsistent with what
   * came before (a record for a path outside the root, a file the model does not have, a sync
   * that never began): the records, or the files under the root, are not what the model saw.
   */
  apply(record: SimRecord): void {
    const seq = ++this.seq;
    switch (record.op) {
      case 'open': {
        let node = this.paths.get(record.path);
        if (record.created) {
          if (node !== undefined) throw inconsistent(`created ${record.path}, which exists`);
          node = this.newFile(Buffer.alloc(0));
          this.setEntry(record.path, node, seq);
        }
        if (node === undefined || node.kind !== 'file') throw inconsistent(`opened ${record.path}, which the model does not know as a file`);
        this.fds.set(record.fd, node);
        return;
      }
      case 'close':
        this.fds.delete(record.fd);
        return;
      case 'write':
        this.fileOf(record.fd).pending.push({ seq, position: record.position, data: record.data });
        return;
      case 'truncate':
        this.fileOf(record.fd).pending.push({ seq, length: record.length });
        return;
      case 'mkdir':
        this.setEntry(record.path, this.newDir(), seq);
        return;
      case 'rename': {
        const node = this.nodeAt(record.from);
        if (record.from === record.to) return;
        const replaced = this.paths.get(record.to);
        if (replaced?.kind === 'dir') this.forgetSubtree(record.to);
        const fromParent = this.parentOf(record.from);
        const toParent = this.parentOf(record.to);
        const removal = { name: path.basename(record.from), node: null };
        const addition = { name: path.basename(record.to), node };
        if (fromParent === toParent) {
          fromParent.pending.push({ seq, changes: [removal, addition] });
        } else {
          fromParent.pending.push({ seq, changes: [removal] });
          toParent.pending.push({ seq, changes: [addition] });
        }
        this.paths.delete(record.from);
        this.paths.set(record.to, node);
        if (node.kind === 'dir') this.movePaths(record.from, record.to);
        return;
      }
      case 'unlink':
        if (this.nodeAt(record.path).kind !== 'file') throw inconsistent(`unlink of directory ${record.path}`);
        this.removeEntry(record.path, seq);
        return;
      case 'rmdir': {
        const node = this.nodeAt(record.path);
        if (node.kind !== 'dir') throw inconsistent(`rmdir of file ${record.path}`);
        this.removeEntry(record.path, seq);
        return;
      }
      case 'link': {
        const node = this.nodeAt(record.from);
        if (node.kind !== 'file') throw inconsistent(`link of directory ${record.from}`);
        this.setEntry(record.to, node, seq);
        return;
      }
      case 'sync-file-begin':
        this.syncs.set(record.token, { node: this.fileOf(record.fd), seq });
        return;
      case 'sync-dir-begin': {
        const node = this.nodeAt(record.path);
        if (node.kind !== 'dir') throw inconsistent(`directory sync of file ${record.path}`);
        this.syncs.set(record.token, { node, seq });
        return;
      }
      case 'sync-end': {
        const sync = this.syncs.get(record.token);
        if (sync === undefined) throw inconsistent(`sync ${record.token} ended without beginning`);
        this.syncs.delete(record.token);
        this.makeDurable(sync.node, sync.seq);
        return;
      }
    }
  }

  /** True if `file` (a live path) is durable byte for byte as it is now and under this name. */
  isDurable(file: string): boolean {
    const node = this.paths.get(path.resolve(file));
    if (node === undefined || node.kind !== 'file' || node.pending.length > 0) return false;
    for (let at = path.resolve(file); at !== this.root; at = path.dirname(at)) {
      const parent = this.paths.get(path.dirname(at));
      if (parent === undefined || parent.kind !== 'dir') return false;
      if (parent.durable.get(path.basename(at)) !== this.paths.get(at)) return false;
      if (parent.pending.some((p) => p.changes.some((c) => c.name === path.basename(at)))) return false;
    }
    return true;
  }

  /**
   * The state a power loss leaves now. `random` decides, in `torn` mode, how much of each file's
   * and directory's unsynced operations survives; it is unused in `drop` mode.
   */
  durableImage(mode: CrashMode, source: RandomSource = Math.random): DurableImage {
    checkCrashMode(mode, 'mode'); // anything but 'torn' would silently be 'drop'
    const random = randomFunction(source, 'random');
    const image: DurableImage = { dirs: [], files: [] };
    const contents = new Map<FileNode, Buffer>();
    const fileContents = (node: FileNode): Buffer => {
      let bytes = contents.get(node);
      if (bytes === undefined) {
        const copy = node.durable.clone();
        if (mode === 'torn') applyFileOps(copy, node.pending, random);
        bytes = Buffer.from(copy.view());
        contents.set(node, bytes);
      }
      return bytes;
    };
    const walk = (node: DirNode, relative: string, seen: Set<DirNode>) => {
      assert(!seen.has(node), 'sim-io: directory cycle in the model');
      seen.add(node);
      const entries = new Map(node.durable);
      if (mode === 'torn') {
        const keep = Math.floor(random() * (node.pending.length + 1));
        for (const item of node.pending.slice(0, keep)) {
          for (const change of item.changes) {
            if (change.node === null) entries.delete(change.name);
            else entries.set(change.name, change.node);
          }
        }
      }
      for (const name of [...entries.keys()].sort()) {
        const child = entries.get(name)!;
        const childPath = relative === '' ? name : path.join(relative, name);
        if (child.kind === 'dir') {
          image.dirs.push(childPath);
          walk(child, childPath, seen);
        } else {
          image.files.push({ path: childPath, node: child.id, contents: fileContents(child) });
        }
      }
    };
    walk(this.rootNode, '', new Set());
    return image;
  }

  /**
   * Replaces the real tree under the root with `image` (everything under the root is removed
   * first). Files that were one node appear as hard links of each other again.
   */
  materialize(image: DurableImage): void {
    // Everything under the root is removed first: refuse what is no image before that.
    const given = image as Partial<DurableImage> | null;
    if (typeof given !== 'object' || given === null || !Array.isArray(given.dirs) || !Array.isArray(given.files)) {
      throw invalidArgument('image', 'a DurableImage ({ dirs, files }, from durableImage)', image);
    }
    for (const name of fs.readdirSync(this.root)) fs.rmSync(path.join(this.root, name), { recursive: true, force: true });
    for (const dir of image.dirs) fs.mkdirSync(path.join(this.root, dir), { mode: 0o700 });
    const written = new Map<number, string>();
    for (const file of image.files) {
      const full = path.join(this.root, file.path);
      const first = written.get(file.node);
      if (first !== undefined) {
        fs.linkSync(first, full);
      } else {
        fs.writeFileSync(full, file.contents, { mode: 0o600 });
        written.set(file.node, full);
      }
    }
  }

  private newFile(contents: Buffer): FileNode {
    return { kind: 'file', id: this.nextId++, durable: new Bytes(contents), pending: [] };
  }

  private newDir(): DirNode {
    return { kind: 'dir', id: this.nextId++, durable: new Map(), pending: [] };
  }

  private fileOf(fd: number): FileNode {
    const node = this.fds.get(fd);
    if (node === undefined) throw inconsistent(`descriptor ${fd} is not open in the model`);
    return node;
  }

  private nodeAt(file: string): Node {
    const node = this.paths.get(file);
    if (node === undefined) throw inconsistent(`${file} does not exist in the model`);
    return node;
  }

  private parentOf(file: string): DirNode {
    if (!isInside(this.root, file) || file === this.root) throw inconsistent(`${file} is outside the simulated root ${this.root}`);
    const parent = this.nodeAt(path.dirname(file));
    if (parent.kind !== 'dir') throw inconsistent(`parent of ${file} is a file`);
    return parent;
  }

  private setEntry(file: string, node: Node, seq: number): void {
    this.parentOf(file).pending.push({ seq, changes: [{ name: path.basename(file), node }] });
    this.paths.set(file, node);
  }

  private removeEntry(file: string, seq: number): void {
    this.parentOf(file).pending.push({ seq, changes: [{ name: path.basename(file), node: null }] });
    const node = this.paths.get(file);
    this.paths.delete(file);
    if (node?.kind === 'dir') this.forgetSubtree(file);
  }

  /** Drops live paths below `dir` (its node keeps its durable entries for a crash to restore). */
  private forgetSubtree(dir: string): void {
    const prefix = dir + path.sep;
    for (const key of [...this.paths.keys()]) if (key.startsWith(prefix)) this.paths.delete(key);
  }

  private movePaths(from: string, to: string): void {
    const prefix = from + path.sep;
    for (const [key, node] of [...this.paths]) {
      if (!key.startsWith(prefix)) continue;
      this.paths.delete(key);
      this.paths.set(to + key.slice(from.length), node);
    }
  }

  private makeDurable(node: Node, upTo: number): void {
    if (node.kind === 'file') {
      let applied = 0;
      for (const op of node.pending) {
        if (op.seq > upTo) break;
        if ('data' in op) node.durable.write(op.position, op.data);
        else node.durable.resize(op.length);
        applied += 1;
      }
      node.pending.splice(0, applied);
    } else {
      let applied = 0;
      for (const item of node.pending) {
        if (item.seq > upTo) break;
        for (const change of item.changes) {
          if (change.node === null) node.durable.delete(change.name);
          else node.durable.set(change.name, change.node);
        }
        applied += 1;
      }
      node.pending.splice(0, applied);
    }
  }
}

/** The refusal of a record the model cannot apply (see {@link DurabilityModel.apply}). */
function inconsistent(problem: string): EventBusError {
  const expected = 'a record consistent with the operations before it, on a path under the simulated root';
  return new EventBusError(ErrorCodes.INVALID_FIELD, `sim-io: the record does not fit the model: ${problem}`, { context: { field: 'record', expected } });
}

/** Torn mode: applies a random prefix of `ops`, the last write possibly cut part-way. */
function applyFileOps(bytes: Bytes, ops: FileNode['pending'], random: () => number): void {
  const keep = Math.floor(random() * (ops.length + 1));
  for (let i = 0; i < keep; i++) {
    const op = ops[i]!;
    if ('data' in op) {
      const cut = i === keep - 1 ? Math.floor(random() * (op.data.length + 1)) : op.data.length;
      bytes.write(op.position, op.data.subarray(0, cut));
    } else {
      bytes.resize(op.length);
    }
  }
}

function isInside(root: string, file: string): boolean {
  return file === root || file.startsWith(root + path.sep);
}

/** Options of {@link SimIO}. */
export interface SimIOOptions {
  /** The directory whose contents are simulated; it must exist. Its state now counts as durable. */
  root: string;
  /** The layer underneath. Default: the real file system. */
  inner?: FileIO;
  /**
   * Simulate a power loss just before the Nth counted operation (1-based): every call that
   * changes files or directories, and the completion of every sync. That operation and every
   * later one fail with EIO, as a dead machine would.
   */
  crashAtOp?: number;
  /** Mode of the crash triggered by `crashAtOp`. Default `drop`. */
  crashMode?: CrashMode;
  /** Random source for `torn` crashes: `seededRandom(seed)` (or its `next`). Default Math.random. */
  random?: RandomSource;
  /**
   * A deliberately broken layer, to prove a test can fail: directory syncs are performed but
   * never make anything durable (as if the code under test had forgotten them).
   */
  ignoreDirSync?: boolean;
  /** Likewise for file syncs. */
  ignoreFileSync?: boolean;
}

const SIM_IO_OPTION_KEYS: readonly (keyof SimIOOptions)[] = ['root', 'inner', 'crashAtOp', 'crashMode', 'random', 'ignoreDirSync', 'ignoreFileSync'];

function checkCrashMode(mode: unknown, field: string): asserts mode is CrashMode {
  if (mode !== 'drop' && mode !== 'torn') throw invalidArgument(field, '"drop" or "torn"', mode);
}

/**
 * INVALID_FIELD for options that would simulate something else than asked: a misspelt one
 * (ignored, its default: a sound disk instead of a broken one), a crash point that is no
 * operation, an unknown crash mode, an `inner` that is not a file layer, a root that is not an
 * existing directory.
 */
function checkSimIOOptions(options: unknown): asserts options is SimIOOptions {
  checkOptionsObject(options, 'options');
  if (options === undefined) throw invalidArgument('options', 'an object with at least root', options);
  checkKnownKeys(options, 'options', SIM_IO_OPTION_KEYS);
  const { root, inner, crashAtOp, crashMode, ignoreDirSync, ignoreFileSync } = options as Partial<SimIOOptions>;
  checkRoot(root, 'options.root');
  if (inner !== undefined) checkFileIO(inner, 'options.inner');
  // Infinity: never (the crash checker's run without a crash).
  if (crashAtOp !== undefined && crashAtOp !== Number.POSITIVE_INFINITY && !(Number.isSafeInteger(crashAtOp) && crashAtOp >= 1)) {
    throw invalidArgument('options.crashAtOp', `${wholeNumberRange(1)} (the 1-based operation to cut the power before)`, crashAtOp);
  }
  if (crashMode !== undefined) checkCrashMode(crashMode, 'options.crashMode');
  for (const [field, value] of [['options.ignoreDirSync', ignoreDirSync], ['options.ignoreFileSync', ignoreFileSync]] as const) {
    if (value !== undefined && typeof value !== 'boolean') throw invalidArgument(field, 'a boolean', value);
  }
}

/** A simulated root: the path of an existing directory (INVALID_FIELD naming `field`). */
function checkRoot(root: unknown, field: string): asserts root is string {
  let isDirectory = false;
  try {
    isDirectory = typeof root === 'string' && root.length > 0 && fs.statSync(root).isDirectory();
  } catch {
    // missing: refused below
  }
  if (!isDirectory) throw invalidArgument(field, 'the path of an existing directory', root);
}

/** The error every operation gives after the simulated power loss. */
export function crashError(operation: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EIO: simulated power loss, ${operation}`), { code: 'EIO', errno: -5, syscall: operation });
}

/** A FileIO over the real file system that can simulate a power loss. See the module comment. */
export class SimIO implements FileIO {
  readonly model: DurabilityModel;
  /** Counted operations so far (see {@link SimIOOptions.crashAtOp}). */
  ops = 0;
  /**
   * A hash (FNV-1a) of the names of the counted operations so far, in order: two runs that did
   * the same operations in the same order have the same digest (crash-checker.ts checks replays).
   */
  digest = 0x811c9dc5;
  /** The operation the power loss cut (`crashAtOp`), or null (not crashed, or crashed by {@link crash}). */
  crashedAt: string | null = null;
  crashAtOp: number;
  private crashedState = false;
  private readonly inner: FileIO;
  private readonly crashMode: CrashMode;
  private readonly random: () => number;
  private readonly ignoreDirSync: boolean;
  private readonly ignoreFileSync: boolean;
  private readonly openFds = new Set<number>();
  private nextToken = 1;

  constructor(options: SimIOOptions) {
    checkSimIOOptions(options);
    this.model = DurabilityModel.fromDisk(options.root);
    this.inner = options.inner ?? nodeIO;
    this.crashAtOp = options.crashAtOp ?? Number.POSITIVE_INFINITY;
    this.crashMode = options.crashMode ?? 'drop';
    this.random = randomFunction(options.random ?? Math.random, 'options.random');
    this.ignoreDirSync = options.ignoreDirSync ?? false;
    this.ignoreFileSync = options.ignoreFileSync ?? false;
  }

  /** True once the simulated power loss happened. */
  get crashed(): boolean {
    return this.crashedState;
  }

  /**
   * Simulated power loss: closes every descriptor and rewrites the tree under the root to its
   * durable state. Every later operation fails with EIO except `close`, which does nothing.
   * Idempotent.
   */
  crash(mode: CrashMode = this.crashMode): void {
    checkCrashMode(mode, 'mode');
    if (this.crashedState) return;
    this.crashedState = true;
    for (const fd of this.openFds) {
      try {
        this.inner.close(fd);
      } catch {
        // Already closed underneath; the machine is off either way.
      }
    }
    this.openFds.clear();
    this.model.materialize(this.model.durableImage(mode, this.random));
  }

  /** True if `file` is durable as it stands now (contents and every directory entry above it). */
  isDurable(file: string): boolean {
    return this.model.isDurable(file);
  }

  // ------------------------------------------------------------------ FileIO

  open(file: string, mode: OpenMode): number {
    this.below(file, 'file');
    this.step('open');
    const fd = this.inner.open(file, mode);
    this.openFds.add(fd);
    try {
      this.model.apply({ op: 'open', fd, path: path.resolve(file), created: mode === 'wx+' });
    } catch (error) {
      this.inner.close(fd);
      this.openFds.delete(fd);
      throw error;
    }
    return fd;
  }

  close(fd: number): void {
    if (this.crashedState) return;
    this.openFds.delete(fd);
    this.model.apply({ op: 'close', fd });
    this.inner.close(fd);
  }

  writev(fd: number, buffers: readonly Buffer[], position: number): number {
    this.opened(fd);
    this.step('write');
    const written = this.inner.writev(fd, buffers, position);
    if (written > 0) {
      const data = Buffer.concat(buffers as Buffer[]).subarray(0, written);
      this.model.apply({ op: 'write', fd, position, data: Buffer.from(data) });
    }
    return written;
  }

  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): number {
    this.alive('read');
    return this.inner.read(fd, buffer, offset, length, position);
  }

  size(fd: number): number {
    this.alive('fstat');
    return this.inner.size(fd);
  }

  truncate(fd: number, length: number): void {
    this.opened(fd);
    this.step('ftruncate');
    this.inner.truncate(fd, length);
    this.model.apply({ op: 'truncate', fd, length });
  }

  async datasync(fd: number): Promise<void> {
    this.opened(fd);
    this.step('fdatasync');
    const token = this.nextToken++;
    this.model.apply({ op: 'sync-file-begin', fd, token });
    await this.afterPowerLoss(this.inner.datasync(fd), 'fdatasync');
    this.step('fdatasync completion');
    if (!this.ignoreFileSync) this.model.apply({ op: 'sync-end', token });
  }

  async syncDir(dir: string): Promise<void> {
    this.below(dir, 'dir', true);
    this.step('fsync of a directory');
    const token = this.nextToken++;
    this.model.apply({ op: 'sync-dir-begin', path: path.resolve(dir), token });
    await this.afterPowerLoss(this.inner.syncDir(dir), 'fsync of a directory');
    this.step('fsync of a directory, completion');
    if (!this.ignoreDirSync) this.model.apply({ op: 'sync-end', token });
  }

  datasyncNow(fd: number): void {
    this.opened(fd);
    this.step('fdatasync');
    const token = this.nextToken++;
    this.model.apply({ op: 'sync-file-begin', fd, token });
    this.inner.datasyncNow(fd);
    if (!this.ignoreFileSync) this.model.apply({ op: 'sync-end', token });
  }

  syncDirNow(dir: string): void {
    this.below(dir, 'dir', true);
    this.step('fsync of a directory');
    const token = this.nextToken++;
    this.model.apply({ op: 'sync-dir-begin', path: path.resolve(dir), token });
    this.inner.syncDirNow(dir);
    if (!this.ignoreDirSync) this.model.apply({ op: 'sync-end', token });
  }

  mkdir(dir: string): void {
    this.below(dir, 'dir');
    this.step('mkdir');
    this.inner.mkdir(dir);
    this.model.apply({ op: 'mkdir', path: path.resolve(dir) });
  }

  readdir(dir: string): string[] {
    this.alive('readdir');
    return this.inner.readdir(dir);
  }

  stat(file: string): FileStat | null {
    this.alive('stat');
    return this.inner.stat(file);
  }

  rename(from: string, to: string): void {
    this.below(from, 'from');
    this.below(to, 'to');
    this.step('rename');
    this.inner.rename(from, to);
    this.model.apply({ op: 'rename', from: path.resolve(from), to: path.resolve(to) });
  }

  unlink(file: string): void {
    this.below(file, 'file');
    this.step('unlink');
    this.inner.unlink(file);
    this.model.apply({ op: 'unlink', path: path.resolve(file) });
  }

  removeTree(dir: string): void {
    this.below(dir, 'dir');
    this.step('rm -r');
    const root = path.resolve(dir);
    // Describe it as the unlinks and rmdirs it is, deepest first, before doing it.
    const records: SimRecord[] = [];
    const walk = (current: string) => {
      for (const name of fs.readdirSync(current)) {
        const full = path.join(current, name);
        if (fs.lstatSync(full).isDirectory()) {
          walk(full);
          records.push({ op: 'rmdir', path: full });
        } else {
          records.push({ op: 'unlink', path: full });
        }
      }
    };
    const exists = fs.existsSync(root);
    if (exists) {
      walk(root);
      records.push({ op: 'rmdir', path: root });
    }
    this.inner.removeTree(dir);
    for (const record of records) this.model.apply(record);
  }

  link(from: string, to: string): void {
    this.below(from, 'from');
    this.below(to, 'to');
    this.step('link');
    this.inner.link(from, to);
    this.model.apply({ op: 'link', from: path.resolve(from), to: path.resolve(to) });
  }

  /**
   * Awaits a real sync begun before a power loss that may happen meanwhile: whatever the real
   * call then says (success, or EBADF because the crash closed its descriptor), it failed.
   */
  private async afterPowerLoss(sync: Promise<void>, operation: string): Promise<void> {
    try {
      await sync;
    } catch (error) {
      if (this.crashedState) throw crashError(operation);
      throw error;
    }
  }

  /** Counts an operation; performs the power loss when its number comes up. */
  private step(operation: string): void {
    this.alive(operation);
    this.ops += 1;
    for (let i = 0; i < operation.length; i++) this.digest = Math.imul(this.digest ^ operation.charCodeAt(i), 0x01000193) >>> 0;
    if (this.ops >= this.crashAtOp) {
      this.crashedAt = operation;
      this.crash();
      throw crashError(operation);
    }
  }

  /**
   * Refuses (INVALID_FIELD naming `field`, nothing done, nothing counted) a change to a path the
   * model cannot follow: not a string, or not under the root (the root itself only for a
   * directory sync). Checked first: the real operation would otherwise run before the model
   * refused it, leaving files the model does not know.
   */
  private below(file: unknown, field: string, rootAllowed = false): void {
    const root = this.model.root;
    if (typeof file === 'string' && file.length > 0) {
      const absolute = path.resolve(file);
      if (absolute.startsWith(root + path.sep) || (rootAllowed && absolute === root)) return;
    }
    throw invalidArgument(field, `a path under the simulated root ${root}${rootAllowed ? ' (or the root)' : ''}`, file);
  }

  /** Refuses (INVALID_FIELD `fd`, nothing done) a descriptor this layer did not open: the model has no file for it. */
  private opened(fd: number): void {
    if (this.crashedState) return; // every operation fails with EIO then (step), whatever the descriptor
    if (!this.openFds.has(fd)) throw invalidArgument('fd', 'a descriptor this SimIO opened and has not closed', fd);
  }

  private alive(operation: string): void {
    if (this.crashedState) throw crashError(operation);
  }
}
