/**
 * File headers (file-header.ts) and checked metadata files (checked-file.ts): every file says
 * what it is and which format version it has, and a damaged or foreign header is recognised.
 */
import t from 'tap';
import { decodeFileHeader, encodeFileHeader, FILE_HEADER_BYTES } from '../../src/storage/format/file-header.js';
import { decodeCheckedFile, encodeCheckedFile } from '../../src/storage/format/checked-file.js';
import { readU64, writeU64 } from '../../src/storage/format/binary.js';

t.test('a file header round-trips and is 32 bytes', async (t) => {
  const header = { magic: 'EBLG', version: 1, param: 0, baseOffset: 2 ** 53 - 1, createdMs: 1_700_000_000_000 };
  const bytes = encodeFileHeader(header);
  t.equal(bytes.length, FILE_HEADER_BYTES);
  t.same(decodeFileHeader(bytes, 'EBLG', 1), header);
});

t.test('a header of another kind, version, or damaged anywhere, is refused with a reason', async (t) => {
  const bytes = encodeFileHeader({ magic: 'EBIX', version: 1, param: 12, baseOffset: 5, createdMs: 9 });
  t.match(decodeFileHeader(bytes, 'EBLG', 1), /magic/);
  const v2 = encodeFileHeader({ magic: 'EBIX', version: 2, param: 12, baseOffset: 5, createdMs: 9 });
  t.match(decodeFileHeader(v2, 'EBIX', 1), /version 2/);
  t.match(decodeFileHeader(bytes.subarray(0, 31), 'EBIX', 1), /short/);
  for (let byte = 0; byte < 24; byte++) {
    const damaged = Buffer.from(bytes);
    damaged[byte] = damaged[byte]! ^ 0x04;
    t.match(decodeFileHeader(damaged, 'EBIX', 1), /checksum/, `byte ${byte} flipped`);
  }
  t.match(decodeFileHeader(Buffer.alloc(32), 'EBIX', 1), /checksum/, 'zeros');
});

t.test('a checked file round-trips its JSON body and refuses damage', async (t) => {
  const body = { next_stream_number: 3, streams: [{ number: 1, id: 'a', name: 'ünïcode', created_ms: 5 }] };
  const bytes = encodeCheckedFile('EBCT', 1, body);
  const decoded = decodeCheckedFile(bytes, 'EBCT', 1);
  t.same(typeof decoded === 'string' ? decoded : decoded.body, body);
  t.match(decodeCheckedFile(bytes, 'EBMF', 1), /magic/);
  t.match(decodeCheckedFile(bytes.subarray(0, bytes.length - 1), 'EBCT', 1), /bytes/);
  t.match(decodeCheckedFile(Buffer.concat([bytes, Buffer.from('x')]), 'EBCT', 1), /bytes/);
  const damaged = Buffer.from(bytes);
  damaged[bytes.length - 2] = damaged[bytes.length - 2]! ^ 1;
  t.match(decodeCheckedFile(damaged, 'EBCT', 1), /checksum/);
  t.match(decodeCheckedFile(encodeCheckedFile('EBCT', 2, body), 'EBCT', 1), /version 2/);
});

t.test('64-bit fields hold every offset and timestamp up to 2^53 exactly', async (t) => {
  const buffer = Buffer.alloc(8);
  for (const value of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 1_700_000_000_123, 2 ** 53 - 1]) {
    writeU64(buffer, 0, value);
    t.equal(readU64(buffer, 0), value);
  }
});
