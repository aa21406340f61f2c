/**
 * CRC32C (Castagnoli), the checksum of every record, index entry, header and manifest.
 *
 * fast-crc32c uses the SSE4.2 instruction through a native addon when it built, and a table in
 * JavaScript otherwise; both give the same values.
 */
import fastCrc32c from 'fast-crc32c';

/** CRC32C of `data`, continuing from `initial` when given. Always an unsigned 32-bit integer. */
export function crc32c(data: Buffer, initial = 0): number {
  return fastCrc32c.calculate(data, initial) >>> 0;
}
