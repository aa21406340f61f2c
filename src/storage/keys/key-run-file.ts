/**
 * A run of the key index on disk (layout: format/key-run.ts): writing one (from sorted entries,
 * to a temporary file made durable and renamed into place), opening one (its trailer and fences
 * checked and held in memory), finding a hash's entries in it (a binary search over the fences,
 * then one checked 4 KiB block) and reading all of it in order (merges, verify).
 *
 * A run's bloom filter (bloom-filter.ts) is checked and held in memory at open, so a lookup of a
 * key the run does not hold reads nothing. Its descriptor is opened on first use and kept open,
 * under the engine's bound on open files (fs/open-files.ts) shared with the log's segments.
 */
import path from 'node:path';
import { ErrorCodes, EventBusError, ioError } from '../../errors.js';
import { crc32c } from '../format/crc.js';
import { decodeFileHeader, FILE_HEADER_BYTES } from '../format/file-header.js';
import { compareHash } from '../format/key-hash.js';
import {
  blockChecks,
  blockPosition,
  decodeRunTrailer,
  encodeEntry,
  encodeFence,
  encodeRunHeader,
  encodeRunTrailer,
  ENTRIES_PER_BLOCK,
  entryHashHi,
  entryHashLo,
  entryOffset,
  entryVersion,
  FENCE_BYTES,
  fencesPosition,
  RUN_BLOCK_BYTES,
  RUN_MAGIC,
  RUN_TRAILER_BYTES,
  RUN_VERSIONS,
  bloomPosition,
  runFileBytes,
  runFileCrc,
  runFileName,
  sealBlock,
  type RunTrailer,
} from '../format/key-run.js';
import { TEMPORARY_SUFFIX } from '../fs/atomic-file.js';
import { readFully, writeFully, type FileIO } from '../fs/io.js';
import { readU64 } from '../format/binary.js';
import type { FileHolder, OpenFiles } from '../fs/open-files.js';
import { BloomFilter, BLOOM_HASHES } from './bloom-filter.js';

/** One entry of the key index. */
export interface KeyEntry {
  version: number;
  offset: number;
}

/** Blocks read at once by a sequential scan (merges, verify). */
const SCAN_BLOCKS = 64;

/** Thrown when a block of a run fails its check: the run is dropped and rebuilt from the log. */
export class DamagedRun extends Error {
  constructor(readonly run: KeyRun, readonly reason: string) {
    super(`key index run ${run.path} is damaged: ${reason}`);
  }
}

export class KeyRun implements FileHolder {
  /** The descriptor, open once used until the open-files bound or {@link release} closes it. */
  private fd: number | null = null;
  private released = false;

  private constructor(
    readonly path: string,
    readonly trailer: RunTrailer,
    /** The first entry's (hash, version) of each block. */
    private readonly fences: Buffer,
    /** Null for a version 1 run (written before filters), or once dropped to stay in budget. */
    private bloom: BloomFilter | null,
    private readonly openFiles: OpenFiles | null,
  ) {}

  /** Bytes of the bloom filter held in memory (0 when none). */
  get bloomMemoryBytes(): number {
    return this.bloom?.bytes.length ?? 0;
  }

  /** Whether the run has a filter on disk (version 2). */
  get hasBloom(): boolean {
    return this.trailer.bloomBytes > 0;
  }

  /** Stops holding the filter in memory (lookups then read a block instead). */
  dropBloom(): void {
    this.bloom = null;
  }

  /** False only when the run holds no entry of hash (hi, lo) (true without a filter). */
  mayHold(hi: number, lo: number): boolean {
    return this.bloom === null || this.bloom.mayHold(hi, lo);
  }

  /** Closes the descriptor (the open-files bound; it is opened again when next used). */
  closeFiles(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      // The io of the lookup that opened it: kept beside the descriptor.
      this.fdIo?.close(fd);
    } catch {
      // closed already
    }
  }

  private fdIo: FileIO | null = null;

  /** Closes the descriptor for good (the run is being removed, or the index closed). */
  release(): void {
    this.released = true;
    this.openFiles?.forget(this);
    this.closeFiles();
  }

  get fromOffset(): number {
    return this.trailer.fromOffset;
  }

  get toOffset(): number {
    return this.trailer.toOffset;
  }

  get entryCount(): number {
    return this.trailer.entryCount;
  }

  /** Bytes on disk. */
  get fileBytes(): number {
    return runFileBytes(this.trailer.blockCount, this.trailer.bloomBytes);
  }

  /** Bytes held in memory (the fences and the filter). */
  get memoryBytes(): number {
    return this.fences.length + this.bloomMemoryBytes + 200;
  }

  /** CRC32C of the whole file (snapshots). */
  get fileCrc(): number {
    return runFileCrc(this.trailer);
  }

  /**
   * Opens the run at `file`: checks its header, size, trailer and fences (not its blocks, which
   * are checked when read). Returns the problem instead when one fails.
   */
  static open(io: FileIO, file: string, openFiles: OpenFiles | null = null): KeyRun | string {
    let fd: number;
    try {
      fd = io.open(file, 'r');
    } catch (error) {
      return `cannot be opened (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
    }
    try {
      const size = io.size(fd);
      if (size < FILE_HEADER_BYTES + RUN_TRAILER_BYTES) return `is ${size} bytes, too short for a run`;
      const header = Buffer.alloc(FILE_HEADER_BYTES);
      readFully(io, fd, header, 0, FILE_HEADER_BYTES, 0);
      const decodedHeader = decodeFileHeader(header, RUN_MAGIC, RUN_VERSIONS);
      if (typeof decodedHeader === 'string') return `header: ${decodedHeader}`;
      const trailerBytes = Buffer.alloc(RUN_TRAILER_BYTES);
      readFully(io, fd, trailerBytes, 0, RUN_TRAILER_BYTES, size - RUN_TRAILER_BYTES);
      const trailer = decodeRunTrailer(trailerBytes);
      if (typeof trailer === 'string') return trailer;
      const expected = runFileBytes(trailer.blockCount, trailer.bloomBytes);
      if (size !== expected) return `is ${size} bytes, its trailer says ${expected}`;
      if (decodedHeader.baseOffset !== trailer.fromOffset) return 'header and trailer name different offsets';
      if (decodedHeader.version === 1 && trailer.bloomBytes !== 0) return 'a version 1 run with a bloom filter';
      const fences = Buffer.alloc(trailer.blockCount * FENCE_BYTES);
      readFully(io, fd, fences, 0, fences.length, fencesPosition(trailer.blockCount));
      if (crc32c(fences) !== trailer.fencesCrc) return 'fences fail their checksum';
      let bloom: BloomFilter | null = null;
      if (trailer.bloomBytes > 0) {
        const bytes = Buffer.alloc(trailer.bloomBytes);
        readFully(io, fd, bytes, 0, bytes.length, bloomPosition(trailer.blockCount));
        if (crc32c(bytes) !== trailer.bloomCrc) return 'bloom filter fails its checksum';
        bloom = new BloomFilter(bytes, trailer.bloomHashes);
      }
      return new KeyRun(file, trailer, fences, bloom, openFiles);
    } finally {
      io.close(fd);
    }
  }

  /**
   * The newest entries of hash (hi, lo) in this run, newest first, at most `limit`; throws
   * {@link DamagedRun} when a block it reads fails its check.
   */
  newestOf(io: FileIO, hi: number, lo: number, limit: number): KeyEntry[] {
    const out: KeyEntry[] = [];
    if (!this.mayHold(hi, lo)) return out;
    let b = this.lastBlockAtOrBefore(hi, lo, Number.MAX_SAFE_INTEGER);
    if (b < 0) return out;
    const fd = this.heldFile(io);
    {
      for (; b >= 0 && out.length < limit; b--) {
        const block = this.readBlock(io, fd, b);
        const n = this.entriesIn(b);
        let sawOther = false;
        for (let i = n - 1; i >= 0 && out.length < limit; i--) {
          const c = compareHash(entryHashHi(block, i), entryHashLo(block, i), hi, lo);
          if (c > 0) continue;
          if (c < 0) {
            sawOther = true;
            break;
          }
          out.push({ version: entryVersion(block, i), offset: entryOffset(block, i) });
        }
        if (sawOther) break;
      }
      return out;
    }
  }

  /**
   * The entries of hash (hi, lo) with a version of at least `fromVersion`, oldest first, at most
   * `limit`; throws {@link DamagedRun} when a block it reads fails its check.
   */
  entriesFrom(io: FileIO, hi: number, lo: number, fromVersion: number, limit: number): KeyEntry[] {
    const out: KeyEntry[] = [];
    if (!this.mayHold(hi, lo)) return out;
    let b = Math.max(0, this.lastBlockAtOrBefore(hi, lo, fromVersion));
    if (this.trailer.blockCount === 0) return out;
    const fd = this.heldFile(io);
    {
      for (; b < this.trailer.blockCount && out.length < limit; b++) {
        const block = this.readBlock(io, fd, b);
        const n = this.entriesIn(b);
        for (let i = 0; i < n && out.length < limit; i++) {
          const c = compareHash(entryHashHi(block, i), entryHashLo(block, i), hi, lo);
          if (c < 0) continue;
          if (c > 0) return out;
          const version = entryVersion(block, i);
          if (version >= fromVersion) out.push({ version, offset: entryOffset(block, i) });
        }
      }
      return out;
    }
  }

  /**
   * Every entry in (hash, version) order, a chunk of blocks at a time (merges, verify); throws
   * {@link DamagedRun} when a block fails its check. `pause` lets a long scan give the event loop
   * a turn between chunks.
   */
  async scan(io: FileIO, visit: (hi: number, lo: number, version: number, offset: number) => void, pause?: () => Promise<void>): Promise<void> {
    const fd = this.openFile(io);
    try {
      const chunk = Buffer.allocUnsafe(SCAN_BLOCKS * RUN_BLOCK_BYTES);
      for (let first = 0; first < this.trailer.blockCount; first += SCAN_BLOCKS) {
        const blocks = Math.min(SCAN_BLOCKS, this.trailer.blockCount - first);
        const n = readFully(io, fd, chunk, 0, blocks * RUN_BLOCK_BYTES, blockPosition(first));
        if (n < blocks * RUN_BLOCK_BYTES) throw new DamagedRun(this, `ends inside block ${first + Math.floor(n / RUN_BLOCK_BYTES)}`);
        for (let b = 0; b < blocks; b++) {
          const block = chunk.subarray(b * RUN_BLOCK_BYTES, (b + 1) * RUN_BLOCK_BYTES);
          if (!blockChecks(block)) throw new DamagedRun(this, `block ${first + b} fails its checksum`);
          const entries = this.entriesIn(first + b);
          for (let i = 0; i < entries; i++) visit(entryHashHi(block, i), entryHashLo(block, i), entryVersion(block, i), entryOffset(block, i));
        }
        if (pause !== undefined) await pause();
      }
    } finally {
      io.close(fd);
    }
  }

  /** A cursor over every entry in order, for a merge; close it when done. */
  cursor(io: FileIO): RunCursor {
    return new RunCursor(io, this, this.openFile(io));
  }

  /** Entries in block `b`. */
  entriesIn(b: number): number {
    return b < this.trailer.blockCount - 1 ? ENTRIES_PER_BLOCK : this.trailer.entryCount - b * ENTRIES_PER_BLOCK;
  }

  /** The last block whose first entry is at or before (hi, lo, version); -1 if none. */
  private lastBlockAtOrBefore(hi: number, lo: number, version: number): number {
    let low = 0;
    let high = this.trailer.blockCount - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const at = middle * FENCE_BYTES;
      let c = compareHash(this.fences.readUInt32LE(at), this.fences.readUInt32LE(at + 4), hi, lo);
      if (c === 0) c = Math.sign(readU64(this.fences, at + 8) - version);
      if (c <= 0) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  /** The held descriptor, opened if needed; marks the run as just used for the open-files bound. */
  private heldFile(io: FileIO): number {
    if (this.fd === null || this.fdIo !== io) {
      this.closeFiles();
      this.fd = this.openFile(io);
      this.fdIo = io;
    }
    if (!this.released) this.openFiles?.touch(this);
    return this.fd;
  }

  private openFile(io: FileIO): number {
    try {
      return io.open(this.path, 'r');
    } catch (error) {
      throw ioError(`opening ${this.path}`, error);
    }
  }

  private readBlock(io: FileIO, fd: number, b: number): Buffer {
    const block = Buffer.allocUnsafe(RUN_BLOCK_BYTES);
    let n: number;
    try {
      n = readFully(io, fd, block, 0, RUN_BLOCK_BYTES, blockPosition(b));
    } catch (error) {
      throw ioError(`reading ${this.path}`, error);
    }
    if (n < RUN_BLOCK_BYTES || !blockChecks(block)) throw new DamagedRun(this, `block ${b} fails its checksum`);
    return block;
  }
}

/**
 * Reads a run's entries in order, a chunk of blocks at a time: the current entry is
 * (hi, lo, version, offset) until `done`. Throws {@link DamagedRun} when a block fails its check.
 */
export class RunCursor {
  hi = 0;
  lo = 0;
  version = 0;
  offset = 0;
  done = false;
  private readonly chunk = Buffer.allocUnsafe(SCAN_BLOCKS * RUN_BLOCK_BYTES);
  private chunkFirst = 0;
  private chunkBlocks = 0;
  private block = 0;
  private entry = -1;

  constructor(private readonly io: FileIO, private readonly run: KeyRun, private readonly fd: number) {
    this.next();
  }

  /** Moves to the next entry (or `done`). */
  next(): void {
    const blockCount = this.run.trailer.blockCount;
    this.entry += 1;
    while (this.block < blockCount && this.entry >= this.run.entriesIn(this.block)) {
      this.block += 1;
      this.entry = 0;
    }
    if (this.block >= blockCount) {
      this.done = true;
      return;
    }
    if (this.block >= this.chunkFirst + this.chunkBlocks) this.load();
    const block = this.chunk.subarray((this.block - this.chunkFirst) * RUN_BLOCK_BYTES, (this.block - this.chunkFirst + 1) * RUN_BLOCK_BYTES);
    this.hi = entryHashHi(block, this.entry);
    this.lo = entryHashLo(block, this.entry);
    this.version = entryVersion(block, this.entry);
    this.offset = entryOffset(block, this.entry);
  }

  private load(): void {
    this.chunkFirst = this.block;
    this.chunkBlocks = Math.min(SCAN_BLOCKS, this.run.trailer.blockCount - this.block);
    const want = this.chunkBlocks * RUN_BLOCK_BYTES;
    let n: number;
    try {
      n = readFully(this.io, this.fd, this.chunk, 0, want, blockPosition(this.block));
    } catch (error) {
      throw ioError(`reading ${this.run.path}`, error);
    }
    if (n < want) throw new DamagedRun(this.run, `ends inside block ${this.block + Math.floor(n / RUN_BLOCK_BYTES)}`);
    for (let b = 0; b < this.chunkBlocks; b++) {
      if (!blockChecks(this.chunk.subarray(b * RUN_BLOCK_BYTES, (b + 1) * RUN_BLOCK_BYTES))) throw new DamagedRun(this.run, `block ${this.chunkFirst + b} fails its checksum`);
    }
  }

  close(): void {
    this.io.close(this.fd);
  }
}

/**
 * Writes a run: entries are added in (hash, version) order and written a block at a time to a
 * temporary file; {@link RunWriter.finish} writes the fences and trailer, makes the file durable
 * and renames it into place (`keys-<from>-<to>.run`), then makes the directory entry durable.
 */
export class RunWriter {
  private readonly temporary: string;
  private readonly fd: number;
  private readonly block = Buffer.alloc(RUN_BLOCK_BYTES);
  private inBlock = 0;
  private blocks = 0;
  private entries = 0;
  private keys = 0;
  private lastHi = -1;
  private lastLo = -1;
  private lastVersion = -1;
  private fences = Buffer.alloc(64 * FENCE_BYTES);
  /** Each distinct hash (hi, lo), for the bloom filter written at the end. */
  private distinct = new Uint32Array(2 * 1024);
  private bodyCrc: number;
  private position: number;
  readonly path: string;

  constructor(
    private readonly io: FileIO,
    dir: string,
    private readonly fromOffset: number,
    private readonly toOffset: number,
    createdMs: number,
    /** The bound the written run's descriptor is held under. */
    private readonly openFiles: OpenFiles | null = null,
  ) {
    this.path = path.join(dir, runFileName(fromOffset, toOffset));
    this.temporary = this.path + TEMPORARY_SUFFIX;
    try {
      if (io.stat(this.temporary) !== null) io.unlink(this.temporary);
      this.fd = io.open(this.temporary, 'wx+');
      const header = encodeRunHeader(fromOffset, createdMs);
      writeFully(io, this.fd, [header], 0);
      this.bodyCrc = crc32c(header);
      this.position = FILE_HEADER_BYTES;
    } catch (error) {
      throw ioError(`creating ${this.temporary}`, error);
    }
  }

  /** Adds the next entry; entries come in (hash, version) order. */
  add(hi: number, lo: number, version: number, offset: number): void {
    const c = compareHash(hi, lo, this.lastHi, this.lastLo);
    // Equal versions of one hash are two keys sharing it (rare): both entries are kept.
    if (c < 0 || (c === 0 && version < this.lastVersion)) {
      throw new EventBusError(ErrorCodes.INTERNAL, `internal error: key index entries out of order writing ${this.path}`);
    }
    if (c !== 0) {
      if (2 * (this.keys + 1) > this.distinct.length) {
        const bigger = new Uint32Array(this.distinct.length * 2);
        bigger.set(this.distinct);
        this.distinct = bigger;
      }
      this.distinct[2 * this.keys] = hi;
      this.distinct[2 * this.keys + 1] = lo;
      this.keys += 1;
    }
    this.lastHi = hi;
    this.lastLo = lo;
    this.lastVersion = version;
    if (this.inBlock === 0) {
      if ((this.blocks + 1) * FENCE_BYTES > this.fences.length) {
        const bigger = Buffer.alloc(this.fences.length * 2);
        this.fences.copy(bigger);
        this.fences = bigger;
      }
      encodeFence(this.fences, this.blocks, hi, lo, version);
    }
    encodeEntry(this.block, this.inBlock, hi, lo, version, offset);
    this.inBlock += 1;
    this.entries += 1;
    if (this.inBlock === ENTRIES_PER_BLOCK) this.writeBlock();
  }

  private writeBlock(): void {
    sealBlock(this.block, this.inBlock);
    this.write(this.block);
    this.blocks += 1;
    this.inBlock = 0;
  }

  private write(bytes: Buffer): void {
    try {
      writeFully(this.io, this.fd, [bytes], this.position);
    } catch (error) {
      this.abandon();
      throw ioError(`writing ${this.temporary}`, error);
    }
    this.bodyCrc = crc32c(bytes, this.bodyCrc);
    this.position += bytes.length;
  }

  /** Writes the fences and trailer; returns the trailer (the file is not yet durable). */
  private close(): RunTrailer {
    if (this.inBlock > 0) this.writeBlock();
    const fences = this.fences.subarray(0, this.blocks * FENCE_BYTES);
    this.write(fences);
    let bloomBytes = 0;
    let bloomCrc = 0;
    if (this.keys > 0) {
      const bloom = BloomFilter.sized(this.keys);
      for (let k = 0; k < this.keys; k++) bloom.add(this.distinct[2 * k]!, this.distinct[2 * k + 1]!);
      this.write(bloom.bytes);
      bloomBytes = bloom.bytes.length;
      bloomCrc = crc32c(bloom.bytes);
    }
    this.distinct = new Uint32Array(0);
    const trailer: RunTrailer = {
      blockCount: this.blocks,
      entryCount: this.entries,
      fromOffset: this.fromOffset,
      toOffset: this.toOffset,
      keyCount: this.keys,
      fencesCrc: crc32c(fences),
      bodyCrc: this.bodyCrc,
      bloomBytes,
      bloomCrc,
      bloomHashes: bloomBytes > 0 ? BLOOM_HASHES : 0,
    };
    this.write(encodeRunTrailer(trailer));
    return trailer;
  }

  /** Finishes the run durably (fsync, rename, directory fsync) and returns it, opened. */
  async finish(): Promise<KeyRun> {
    this.close();
    try {
      await this.io.datasync(this.fd);
      this.io.close(this.fd);
      this.io.rename(this.temporary, this.path);
      await this.io.syncDir(path.dirname(this.path));
    } catch (error) {
      this.abandon();
      throw ioError(`writing ${this.path}`, error);
    }
    return this.opened();
  }

  /** {@link finish}, synchronously (at open, before the store takes requests). */
  finishNow(): KeyRun {
    this.close();
    try {
      this.io.datasyncNow(this.fd);
      this.io.close(this.fd);
      this.io.rename(this.temporary, this.path);
      this.io.syncDirNow(path.dirname(this.path));
    } catch (error) {
      this.abandon();
      throw ioError(`writing ${this.path}`, error);
    }
    return this.opened();
  }

  private opened(): KeyRun {
    const run = KeyRun.open(this.io, this.path, this.openFiles);
    if (typeof run === 'string') throw new EventBusError(ErrorCodes.INTERNAL, `internal error: the run just written ${this.path} ${run}`);
    return run;
  }

  /** Closes and removes the temporary file (a write failed, or the index is closing). */
  abandon(): void {
    try {
      this.io.close(this.fd);
    } catch {
      // closed already
    }
    try {
      if (this.io.stat(this.temporary) !== null) this.io.unlink(this.temporary);
    } catch {
      // removed at the next open
    }
  }
}
