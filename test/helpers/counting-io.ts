/**
 * CountingIO: a {@link FileIO} that counts what passes through it (operations, and bytes read and
 * written per file), for tests that assert how much work something does: that opening a store
 * does not read its sealed segments, that a read touches only the files it should.
 */
import path from 'node:path';
import { nodeIO, type FileIO, type FileStat, type OpenMode } from '../../src/storage/fs/io.js';

export class CountingIO implements FileIO {
  /** Calls per operation name. */
  readonly calls = new Map<string, number>();
  /** Bytes returned by `read`, per absolute path. */
  readonly readBytes = new Map<string, number>();
  /** Bytes written, per absolute path. */
  readonly writtenBytes = new Map<string, number>();
  private readonly fdPaths = new Map<number, string>();

  constructor(private readonly inner: FileIO = nodeIO) {}

  /** Forgets every count (open descriptors stay known). */
  reset(): void {
    this.calls.clear();
    this.readBytes.clear();
    this.writtenBytes.clear();
  }

  /** Bytes read from files whose path matches `pattern` (all files when omitted). */
  totalRead(pattern?: RegExp): number {
    let total = 0;
    for (const [file, bytes] of this.readBytes) if (pattern === undefined || pattern.test(file)) total += bytes;
    return total;
  }

  private count(op: string): void {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
  }

  private add(map: Map<string, number>, fd: number, bytes: number): void {
    const file = this.fdPaths.get(fd) ?? `fd ${fd}`;
    map.set(file, (map.get(file) ?? 0) + bytes);
  }

  open(file: string, mode: OpenMode): number {
    this.count('open');
    const fd = this.inner.open(file, mode);
    this.fdPaths.set(fd, path.resolve(file));
    return fd;
  }

  close(fd: number): void {
    this.count('close');
    this.fdPaths.delete(fd);
    this.inner.close(fd);
  }

  writev(fd: number, buffers: readonly Buffer[], position: number): number {
    this.count('writev');
    const n = this.inner.writev(fd, buffers, position);
    this.add(this.writtenBytes, fd, n);
    return n;
  }

  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): number {
    this.count('read');
    const n = this.inner.read(fd, buffer, offset, length, position);
    this.add(this.readBytes, fd, n);
    return n;
  }

  size(fd: number): number {
    this.count('size');
    return this.inner.size(fd);
  }

  truncate(fd: number, length: number): void {
    this.count('truncate');
    this.inner.truncate(fd, length);
  }

  datasync(fd: number): Promise<void> {
    this.count('datasync');
    return this.inner.datasync(fd);
  }

  syncDir(dir: string): Promise<void> {
    this.count('syncDir');
    return this.inner.syncDir(dir);
  }

  datasyncNow(fd: number): void {
    this.count('datasyncNow');
    this.inner.datasyncNow(fd);
  }

  syncDirNow(dir: string): void {
    this.count('syncDirNow');
    this.inner.syncDirNow(dir);
  }

  mkdir(dir: string): void {
    this.count('mkdir');
    this.inner.mkdir(dir);
  }

  readdir(dir: string): string[] {
    this.count('readdir');
    return this.inner.readdir(dir);
  }

  stat(file: string): FileStat | null {
    this.count('stat');
    return this.inner.stat(file);
  }

  rename(from: string, to: string): void {
    this.count('rename');
    this.inner.rename(from, to);
  }

  unlink(file: string): void {
    this.count('unlink');
    this.inner.unlink(file);
  }

  removeTree(dir: string): void {
    this.count('removeTree');
    this.inner.removeTree(dir);
  }

  link(from: string, to: string): void {
    this.count('link');
    this.inner.link(from, to);
  }
}
