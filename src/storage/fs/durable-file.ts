/**
 * One open file that the engine writes and makes durable: a segment's `.log` or `.index`, a
 * consumer journal. The one home of what every such file needs from its descriptor:
 *
 * - writes are whole or an error naming the file (the short-write check lives in io.ts);
 * - fsyncs are counted, and {@link DurableFile.close} while one runs keeps the descriptor open
 *   until the last completes: a descriptor number is never closed, and reused by another file,
 *   under a running fsync (which would then flush the wrong file, or fail with EBADF);
 * - once closed ("retired"), a sync has nothing left to make durable and resolves at once.
 *
 * Queueing writes, committing them and refusing after a failure is durable-writer.ts.
 */
import { ioError } from '../../errors.js';
import { readFully, writeFully, type FileIO, type OpenMode } from './io.js';

export class DurableFile {
  private syncsRunning = 0;
  private closed = false;

  private constructor(private readonly io: FileIO, readonly path: string, readonly fd: number) {}

  /** Opens `path`. Errors are the operating system's, for the caller to word. */
  static open(io: FileIO, path: string, mode: OpenMode): DurableFile {
    return new DurableFile(io, path, io.open(path, mode));
  }

  /** False once {@link close} was called. */
  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Writes all of `buffers` at `position`; throws DISK_FULL or IO_ERROR saying what failed:
   * `${what} ${path}` ("append to /data/…/0.log"), worded only on failure (appends are hot).
   */
  write(buffers: readonly Buffer[], position: number, what: string): void {
    try {
      writeFully(this.io, this.fd, buffers, position);
    } catch (error) {
      throw ioError(`${what} ${this.path}`, error);
    }
  }

  /** Reads up to `length` bytes at `position` (fewer only at the end of the file). */
  read(buffer: Buffer, offset: number, length: number, position: number): number {
    return readFully(this.io, this.fd, buffer, offset, length, position);
  }

  size(): number {
    return this.io.size(this.fd);
  }

  truncate(length: number): void {
    this.io.truncate(this.fd, length);
  }

  /** fdatasync, synchronously (recovery, rebuilds, small commit rounds: group-commit.ts). */
  syncNow(): void {
    this.io.datasyncNow(this.fd);
  }

  /** fdatasync. Resolves at once if the file was closed; rejects with the operating system's error. */
  async sync(): Promise<void> {
    if (this.closed) return;
    this.syncsRunning += 1;
    try {
      await this.io.datasync(this.fd);
    } finally {
      this.syncsRunning -= 1;
      if (this.closed && this.syncsRunning === 0) this.io.close(this.fd);
    }
  }

  /** Closes the descriptor now, or when the fsyncs running on it complete. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.syncsRunning === 0) this.io.close(this.fd);
  }
}
