/**
 * A segment's `.log` file (segment-files.ts): the header, then records appended at the end.
 *
 * The active log is preallocated: extended with zeros (sparsely, by ftruncate) ahead of its
 * data, and cut back to its data when sealed and at a clean close, so that most appends do not
 * grow the file and their fdatasync has no size to commit. It keeps the running CRC32C of its
 * data while appending (a seal and a snapshot need it), and how much of it is known to be on
 * disk (a seal may only cover that). Its descriptor closes when idle (sealed segments) and
 * reopens on use; an fsync running on it keeps it open until done (fs/durable-file.ts).
 */
import { ioError } from '../../errors.js';
import { crc32c } from '../format/crc.js';
import { FILE_HEADER_BYTES } from '../format/file-header.js';
import { DurableFile } from '../fs/durable-file.js';
import type { FileIO } from '../fs/io.js';
import { ReopenableFile } from '../fs/reopenable-file.js';
import { fileCrc } from './log-scanner.js';
import { encodeLogHeader } from './segment-files.js';

export class LogFile extends ReopenableFile {
  /** Size of the file: the data plus preallocated zeros. */
  private allocated = 0;
  /** Bytes known to be on disk (fsynced, or found at open). */
  durableBytes = 0;
  /** CRC32C of the data written so far; null when unknown (after reopen). */
  crc: number | null = null;

  constructor(io: FileIO, path: string, private readonly preallocateStepBytes: number) {
    super(io, path);
  }

  /** Creates the file with its header (not yet fsynced). */
  create(baseOffset: number, createdMs: number): void {
    const header = encodeLogHeader(baseOffset, createdMs);
    this.file = DurableFile.open(this.io, this.path, 'wx+');
    this.file.write([header], 0, 'log header to');
    this.allocated = FILE_HEADER_BYTES;
    this.preallocate(FILE_HEADER_BYTES + 1);
    this.crc = crc32c(header);
  }

  /** Takes over a file recovery found: open (active) or closed, `allocated` bytes long, on disk. */
  adopt(file: DurableFile | null, allocated: number, durableBytes: number): void {
    this.file = file;
    this.allocated = allocated;
    this.durableBytes = durableBytes;
  }

  /** Writes `chunk` at `size` (the end of the data), growing the file first if needed. */
  append(chunk: Buffer, size: number): void {
    this.preallocate(size + chunk.length);
    this.open('r+').write([chunk], size, 'append to');
    if (this.crc !== null) this.crc = crc32c(chunk, this.crc);
  }

  /** Grows the file (zeros; sparse on disk) to the next preallocation step past `needed`. */
  private preallocate(needed: number): void {
    const step = this.preallocateStepBytes;
    if (step <= 0 || needed <= this.allocated) return;
    const target = Math.ceil(needed / step) * step;
    try {
      this.open('r+').truncate(target);
    } catch (error) {
      throw ioError(`preallocating ${this.path}`, error);
    }
    this.allocated = target;
  }

  /** Cuts the file to `size` bytes (what a failed append may have left after the data). */
  cutTo(size: number): void {
    this.open('r+').truncate(size);
    this.allocated = size;
  }

  /** Cuts the preallocated zeros after the `size` bytes of data, if any (a seal, a clean close). */
  trim(size: number): void {
    if (this.allocated > size) this.cutTo(size);
  }

  /** CRC32C of the first `size` bytes, from the running value or the file. */
  crcOf(size: number): number {
    this.crc ??= fileCrc(this.io, this.open('r').fd, size);
    return this.crc;
  }

  /**
   * fdatasync; a closed log is opened for the sync alone. Everything written before the call
   * (`size` bytes) is then on disk.
   */
  async sync(size: number): Promise<void> {
    await this.syncFile();
    if (size > this.durableBytes) this.durableBytes = size;
  }

  /** {@link sync} on the calling thread; false (nothing done) if the file is closed. */
  syncNow(size: number): boolean {
    if (!this.syncFileNow()) return false;
    if (size > this.durableBytes) this.durableBytes = size;
    return true;
  }
}
