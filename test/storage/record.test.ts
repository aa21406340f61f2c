/**
 * Record encoding (record.ts): what a reader relies on is that a record decodes to exactly the
 * bytes written, and that no damaged, torn or misplaced record ever decodes as data.
 */
import t from 'tap';
import { decodeRecord, encodeRecord, RECORD_HEADER_BYTES, recordBytes } from '../../src/storage/format/record.js';

const MAX = 1 << 20;

function encoded(offset: number, timestampMs: number, payload: Buffer): Buffer {
  const buffer = Buffer.alloc(recordBytes(payload.length));
  encodeRecord(buffer, 0, offset, timestampMs, payload);
  return buffer;
}

t.test('a record round-trips offset, timestamp and payload, for empty to large payloads', async (t) => {
  for (const size of [0, 1, 23, 24, 100, 4096, 70_000]) {
    const payload = Buffer.alloc(size, size % 251);
    const offset = 2 ** 53 - 1 - size;
    const buffer = encoded(offset, 1_700_000_000_123, payload);
    t.equal(buffer.length, RECORD_HEADER_BYTES + size);
    const decoded = decodeRecord(buffer, 0, buffer.length, MAX, offset);
    if (typeof decoded === 'string') throw new Error(`size ${size}: ${decoded}`);
    t.equal(decoded.offset, offset);
    t.equal(decoded.timestampMs, 1_700_000_000_123);
    t.ok(decoded.payload.equals(payload), `payload of ${size} bytes`);
    t.equal(decoded.size, buffer.length);
  }
});

t.test('records decode at any position of a larger buffer', async (t) => {
  const a = encoded(7, 1, Buffer.from('first'));
  const b = encoded(8, 2, Buffer.from('second'));
  const both = Buffer.concat([a, b]);
  const second = decodeRecord(both, a.length, both.length, MAX, 8);
  t.not(typeof second, 'string');
  if (typeof second !== 'string') t.equal(second.payload.toString(), 'second');
});

t.test('flipping any bit of a record makes it fail its check (CRC covers header and payload)', async (t) => {
  const original = encoded(42, 1_700_000_000_000, Buffer.from('the quick brown fox'));
  let caught = 0;
  for (let byte = 0; byte < original.length; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      const damaged = Buffer.from(original);
      damaged[byte] = damaged[byte]! ^ (1 << bit);
      const decoded = decodeRecord(damaged, 0, damaged.length, MAX, 42);
      if (typeof decoded === 'string') caught += 1;
    }
  }
  t.equal(caught, original.length * 8, 'every single-bit flip is detected');
});

t.test('each way a record can fail is named', async (t) => {
  const record = encoded(5, 9, Buffer.from('payload'));
  t.equal(decodeRecord(record, 0, record.length - 1, MAX, 5), 'partial', 'cut short');
  t.equal(decodeRecord(record, 0, RECORD_HEADER_BYTES - 1, MAX, 5), 'partial', 'header cut short');
  t.equal(decodeRecord(record, 0, record.length, 3, 5), 'bad-length', 'length above the limit');
  t.equal(decodeRecord(record, 0, record.length, MAX, 6), 'bad-offset', 'a valid record of another offset');
  const flipped = Buffer.from(record);
  flipped[record.length - 1] = flipped[record.length - 1]! ^ 1;
  t.equal(decodeRecord(flipped, 0, flipped.length, MAX, 5), 'bad-crc');
  const zeros = Buffer.alloc(64);
  t.equal(decodeRecord(zeros, 0, zeros.length, MAX, 0), 'bad-crc', 'zeros (a hole) are never a record');
});

t.test('without an expected offset, any valid record decodes', async (t) => {
  const record = encoded(123, 9, Buffer.from('x'));
  const decoded = decodeRecord(record, 0, record.length, MAX);
  t.not(typeof decoded, 'string');
  if (typeof decoded !== 'string') t.equal(decoded.offset, 123);
});
