/**
 * Rebuilding a sealed segment's index from its log: at open, when the index fails its checks
 * (segment-recovery.ts), and on a read that meets an entry that fails (segment.ts). The new index
 * is written to a new file and renamed over the old one, never written in place: a sealed
 * segment's inode may be shared with a snapshot (hard link). Also how recovery seals an active
 * segment found damaged after a clean stop, as it is (segment-recovery.ts).
 */
import { EventBusError, ioError } from '../../errors.js';
import { crc32c } from '../format/crc.js';
import { encodeSealTrailer, type SealInfo } from '../format/offset-index.js';
import { replaceFileNow } from '../fs/atomic-file.js';
import type { FileIO } from '../fs/io.js';
import type { RecordVersion } from '../format/record.js';
import type { Logger } from '../logger.js';
import { fileCrc, zeroFrom } from './log-scanner.js';
import { indexRecords, logDamage, type Damage } from './segment-check.js';
import { encodeIndexHeader, type SegmentPaths } from './segment-files.js';

/** What a rebuild found and wrote. */
export interface RebuiltIndex {
  seal: SealInfo;
  /** The log's size, after cutting a preallocated end left by a crash. */
  logBytes: number;
  damage: Damage[];
}

/**
 * Rebuilds the index of the sealed segment at `paths` (`count` records of format `version`,
 * created at `createdMs`) and logs why (`reason`). `cleanSoFar` is false when damage was already
 * found (a failing log header): a damaged log is never cut. Throws CORRUPT_DATA, DISK_FULL or
 * IO_ERROR.
 */
export function rebuildSealedIndex(io: FileIO, logger: Logger, paths: SegmentPaths, count: number, version: RecordVersion, createdMs: number, cleanSoFar: boolean, reason: string): RebuiltIndex {
  try {
    const fd = io.open(paths.log, 'r');
    try {
      let logBytes = io.size(fd);
      const found = indexRecords(io, fd, paths, logBytes, count, createdMs, version);
      for (const damage of found.damage) logDamage(logger, damage);
      if (found.end < logBytes && found.damage.length === 0 && cleanSoFar && zeroFrom(io, fd, found.end, logBytes)) {
        // Sealed just before a crash that kept the seal but not the cut of the preallocated end:
        // finish the cut. (No snapshot can have linked it: they link only durable seals.)
        cutLog(io, paths.log, found.end);
        logBytes = found.end;
      }
      const header = encodeIndexHeader(paths.baseOffset, createdMs);
      // Damage that reaches the last record is recorded in the seal, so that every later open
      // knows those offsets are damage without reading the log (a batch with no end passes every
      // record's check: only a scan finds it).
      const end = found.damage.find((d) => d.lastOffset === paths.baseOffset + count - 1 && d.firstOffset <= d.lastOffset);
      const seal: SealInfo = {
        recordCount: count,
        logBytes,
        maxTimestampMs: found.maxTimestampMs,
        logCrc: fileCrc(io, fd, logBytes),
        indexCrc: crc32c(found.entries, crc32c(header)),
        damagedCount: end === undefined ? 0 : paths.baseOffset + count - end.firstOffset,
        damagePosition: end?.position ?? 0,
      };
      replaceFileNow(io, paths.index, [header, found.entries, encodeSealTrailer(seal)]);
      logger.warn({ file: paths.index, reason }, 'index rebuilt from its segment');
      return { seal, logBytes, damage: found.damage };
    } finally {
      io.close(fd);
    }
  } catch (error) {
    throw error instanceof EventBusError ? error : ioError(`rebuilding ${paths.index}`, error);
  }
}

/** Cuts the log at `paths` to `length` bytes and makes the cut durable. */
function cutLog(io: FileIO, file: string, length: number): void {
  const fd = io.open(file, 'r+');
  try {
    io.truncate(fd, length);
    io.datasyncNow(fd);
  } finally {
    io.close(fd);
  }
}
