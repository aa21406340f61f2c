/**
 * A segment's `.index` file (layout: format/offset-index.ts): created with its header, appended
 * to with the log, read one checked entry at a time, sealed with a trailer, and brought back in
 * line with the log when an entry fails its check.
 *
 * Its descriptor closes when idle (sealed segments) and reopens on use; an fsync running on it
 * keeps it open until done (fs/durable-file.ts). It keeps the running CRC32C of its entries while
 * appending, which a seal and a snapshot need.
 */
import { crc32c } from '../format/crc.js';
import { FILE_HEADER_BYTES } from '../format/file-header.js';
import { decodeIndexEntry, encodeSealTrailer, INDEX_ENTRY_BYTES, indexEntryPosition, type SealInfo } from '../format/offset-index.js';
import { DurableFile } from '../fs/durable-file.js';
import type { FileIO, OpenMode } from '../fs/io.js';
import { ReopenableFile } from '../fs/reopenable-file.js';
import { fileCrc } from './log-scanner.js';
import { encodeIndexHeader } from './segment-files.js';

export class IndexFile extends ReopenableFile {
  /** CRC32C of the header and entries as written so far; null when unknown (after reopen). */
  crc: number | null = null;

  constructor(io: FileIO, path: string, readonly baseOffset: number) {
    super(io, path);
  }

  /** Creates the file with its header (not yet fsynced). */
  create(createdMs: number): void {
    this.file = DurableFile.open(this.io, this.path, 'wx+');
    const header = encodeIndexHeader(this.baseOffset, createdMs);
    this.write([header], 0, 'index header to');
    this.crc = crc32c(header);
  }

  /** Empties an existing file down to a fresh header (recovery of a header that fails). */
  reset(createdMs: number): void {
    const header = encodeIndexHeader(this.baseOffset, createdMs);
    this.open('r+').truncate(0);
    this.write([header], 0, 'index header to');
    this.crc = null;
  }

  /** The open descriptor, for scans and checks (opened if needed). */
  fd(mode: OpenMode = 'r'): number {
    return this.open(mode).fd;
  }

  size(): number {
    return this.open('r').size();
  }

  /** Writes `chunk` (whole entries) after the first `count` entries; keeps the running CRC. */
  append(chunk: Buffer, count: number, what = 'index append to'): void {
    this.write([chunk], indexEntryPosition(count), what);
    if (this.crc !== null) this.crc = crc32c(chunk, this.crc);
  }

  /** Overwrites the entries from the first one (an index rebuilt in place); the CRC is then unknown. */
  rewriteEntries(entries: Buffer): void {
    this.write([entries], FILE_HEADER_BYTES, 'index rebuild to');
    this.crc = null;
  }

  /**
   * The log position the entry of relative offset `relative` gives, or -1 if the entry is
   * missing, fails its check, or points outside the log's `logBytes`.
   */
  entry(relative: number, logBytes: number): number {
    const entry = Buffer.allocUnsafe(INDEX_ENTRY_BYTES);
    const n = this.open('r').read(entry, 0, INDEX_ENTRY_BYTES, indexEntryPosition(relative));
    if (n < INDEX_ENTRY_BYTES) return -1;
    const position = decodeIndexEntry(entry, 0, relative);
    return position >= FILE_HEADER_BYTES && position < logBytes ? position : -1;
  }

  /** The raw bytes of `count` entries from relative offset `first` (fewer at the end of the file). */
  readEntries(first: number, count: number): Buffer {
    const block = Buffer.alloc(count * INDEX_ENTRY_BYTES);
    const n = this.open('r').read(block, 0, block.length, indexEntryPosition(first));
    return block.subarray(0, n);
  }

  /** Appends the seal trailer after `count` entries. */
  writeSeal(seal: SealInfo, count: number): void {
    this.write([encodeSealTrailer(seal)], indexEntryPosition(count), 'seal to');
  }

  /** Cuts the file back to `count` entries. */
  truncateTo(count: number): void {
    this.open('r+').truncate(indexEntryPosition(count));
  }

  /** CRC32C of the header and the first `count` entries, from the running value or the file. */
  crcOf(count: number): number {
    this.crc ??= fileCrc(this.io, this.fd(), indexEntryPosition(count));
    return this.crc;
  }

  /** fdatasync; a closed index is opened for the sync alone. */
  sync(): Promise<void> {
    return this.syncFile();
  }

  private write(buffers: Buffer[], position: number, what: string): void {
    this.open('r+').write(buffers, position, what);
  }
}
