/**
 * A durable file whose descriptor may be closed while the file is idle and is reopened on use:
 * a segment's `.log` and `.index` (sealed segments close theirs beyond the open-files bound).
 * Syncing a closed file opens a descriptor for that sync alone; closing while an fsync runs keeps
 * the descriptor until it completes (durable-file.ts).
 */
import { DurableFile } from './durable-file.js';
import type { FileIO, OpenMode } from './io.js';

export class ReopenableFile {
  protected file: DurableFile | null = null;

  constructor(protected readonly io: FileIO, readonly path: string) {}

  get isOpen(): boolean {
    return this.file !== null;
  }

  /** The open file, opening it with `mode` if it was closed. */
  open(mode: OpenMode): DurableFile {
    this.file ??= DurableFile.open(this.io, this.path, mode);
    return this.file;
  }

  /** Closes the descriptor now, or once the fsyncs running on it complete. */
  close(): void {
    this.file?.close();
    this.file = null;
  }

  /** {@link syncFile} on the calling thread if the file is open; false (nothing done) if it is closed. */
  syncFileNow(): boolean {
    if (this.file === null || !this.file.isOpen) return false;
    this.file.syncNow();
    return true;
  }

  /** fdatasync, through a descriptor opened for the purpose if the file is closed. */
  async syncFile(): Promise<void> {
    if (this.file !== null) return this.file.sync();
    const file = DurableFile.open(this.io, this.path, 'r');
    try {
      await file.sync();
    } finally {
      file.close();
    }
  }
}
