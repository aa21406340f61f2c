/**
 * The encoding buffers of appends: records and index entries of one batch are encoded into
 * them and written with one write per file. Flushes are synchronous, so one set serves every
 * stream of a store; a single oversized batch grows them, and they shrink back afterwards.
 */
import { INDEX_ENTRY_BYTES } from '../format/offset-index.js';

export class WriteScratch {
  log: Buffer = Buffer.allocUnsafe(1 << 20);
  logUsed = 0;
  index: Buffer = Buffer.allocUnsafe(64 * 1024);
  indexUsed = 0;
  records = 0;
  maxTimestampMs = 0;

  /** Makes room for `logBytes` of records and `records` index entries. */
  reserve(logBytes: number, records = 1): void {
    if (this.logUsed + logBytes > this.log.length) this.log = grow(this.log, this.logUsed, this.logUsed + logBytes);
    const indexBytes = records * INDEX_ENTRY_BYTES;
    if (this.indexUsed + indexBytes > this.index.length) this.index = grow(this.index, this.indexUsed, this.indexUsed + indexBytes);
  }

  reset(): void {
    this.logUsed = 0;
    this.indexUsed = 0;
    this.records = 0;
    this.maxTimestampMs = 0;
    if (this.log.length > 16 << 20) this.log = Buffer.allocUnsafe(1 << 20);
    if (this.index.length > 1 << 20) this.index = Buffer.allocUnsafe(64 * 1024);
  }
}

function grow(buffer: Buffer, used: number, need: number): Buffer {
  const bigger = Buffer.allocUnsafe(Math.max(need, buffer.length * 2));
  buffer.copy(bigger, 0, 0, used);
  return bigger;
}
