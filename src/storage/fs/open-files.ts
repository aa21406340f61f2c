/**
 * A bound on the file descriptors held by sealed segments.
 *
 * Active segments keep their files open; sealed ones open theirs when read and go back to closed
 * when they are the least recently used beyond the bound, so a store with many segments cannot
 * exhaust the process's descriptor limit.
 */

/** Something that holds open files it can close and reopen later. */
export interface FileHolder {
  closeFiles(): void;
}

export class OpenFiles {
  private readonly holders = new Map<FileHolder, true>();

  constructor(private readonly maxHolders: number) {}

  /** Marks `holder` as just used, closing the least recently used ones beyond the bound. */
  touch(holder: FileHolder): void {
    this.holders.delete(holder);
    this.holders.set(holder, true);
    while (this.holders.size > this.maxHolders) {
      const oldest = this.holders.keys().next().value as FileHolder;
      this.holders.delete(oldest);
      oldest.closeFiles();
    }
  }

  /** Stops tracking `holder` (it closed its files itself). */
  forget(holder: FileHolder): void {
    this.holders.delete(holder);
  }
}
