/**
 * Offset index encoding (offset-index.ts): an entry gives its record's position only if it is
 * intact and describes the offset asked for; a seal trailer is recognised only when intact.
 */
import t from 'tap';
import {
  decodeIndexEntry,
  decodeSealTrailer,
  encodeIndexEntry,
  encodeSealTrailer,
  INDEX_ENTRY_BYTES,
  indexEntryPosition,
  SEAL_TRAILER_BYTES,
  sealedIndexBytes,
} from '../../src/storage/format/offset-index.js';
import { FILE_HEADER_BYTES } from '../../src/storage/format/file-header.js';

t.test('an entry round-trips and is found by position arithmetic', async (t) => {
  const entries = Buffer.alloc(3 * INDEX_ENTRY_BYTES);
  for (let i = 0; i < 3; i++) encodeIndexEntry(entries, i * INDEX_ENTRY_BYTES, i, 32 + i * 100);
  for (let i = 0; i < 3; i++) t.equal(decodeIndexEntry(entries, i * INDEX_ENTRY_BYTES, i), 32 + i * 100);
  t.equal(indexEntryPosition(0), FILE_HEADER_BYTES);
  t.equal(indexEntryPosition(10), FILE_HEADER_BYTES + 10 * INDEX_ENTRY_BYTES);
});

t.test('an entry read for another offset, or damaged anywhere, gives no position', async (t) => {
  const entry = Buffer.alloc(INDEX_ENTRY_BYTES);
  encodeIndexEntry(entry, 0, 7, 4242);
  t.equal(decodeIndexEntry(entry, 0, 8), -1, 'another offset');
  for (let byte = 0; byte < INDEX_ENTRY_BYTES; byte++) {
    const damaged = Buffer.from(entry);
    damaged[byte] = damaged[byte]! ^ 0x10;
    t.equal(decodeIndexEntry(damaged, 0, 7), -1, `byte ${byte} flipped`);
  }
  t.equal(decodeIndexEntry(Buffer.alloc(INDEX_ENTRY_BYTES), 0, 0), -1, 'zeros are not an entry for offset 0');
});

t.test('a seal trailer round-trips, and a damaged one is not a seal', async (t) => {
  const seal = { recordCount: 1234, logBytes: 2 ** 40 + 5, maxTimestampMs: 1_700_000_000_999, logCrc: 0xdeadbeef, indexCrc: 0x12345678, damagedCount: 0, damagePosition: 0 };
  const trailer = encodeSealTrailer(seal);
  t.equal(trailer.length, SEAL_TRAILER_BYTES);
  t.same(decodeSealTrailer(trailer), seal);
  const overDamage = { ...seal, damagedCount: 3, damagePosition: 987_654 };
  t.same(decodeSealTrailer(encodeSealTrailer(overDamage)), overDamage, 'a seal over damage at the end of its segment');
  t.equal(decodeSealTrailer(encodeSealTrailer({ ...seal, damagedCount: 1235 })), null, 'more damaged records than records is no seal');
  for (let byte = 0; byte < SEAL_TRAILER_BYTES; byte++) {
    const damaged = Buffer.from(trailer);
    damaged[byte] = damaged[byte]! ^ 0x01;
    t.equal(decodeSealTrailer(damaged), null, `byte ${byte} flipped`);
  }
  t.equal(decodeSealTrailer(trailer.subarray(1)), null, 'short');
  t.equal(sealedIndexBytes(10), FILE_HEADER_BYTES + 10 * INDEX_ENTRY_BYTES + SEAL_TRAILER_BYTES);
});
