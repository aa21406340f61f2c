/**
 * Record encoding (record.ts, record-fields.ts): what a reader relies on is that a record decodes
 * to exactly the bytes and fields written, that a batch's last record says so, that records of
 * format 1 still decode, and that no damaged, torn, misplaced or malformed record ever decodes as
 * data.
 */
import t from 'tap';
import { crc32c } from '../../src/storage/format/crc.js';
import { decodeRecord, encodeRecord, MAX_EVENT_BYTES, MAX_RECORD_LENGTH, RECORD_HEADER_BYTES, recordBytes } from '../../src/storage/format/record.js';
import { MAX_KEY_BYTES, MAX_MSG_ID_BYTES, MAX_TYPE_BYTES, type RecordFields } from '../../src/storage/format/record-fields.js';

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
    t.equal(buffer.length, recordBytes(size));
    t.equal(buffer.length, RECORD_HEADER_BYTES + 8 + size, 'an event without fields costs 8 bytes more than its header and payload');
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

function fields(partial: Partial<RecordFields>): RecordFields {
  return { key: null, version: 0, type: null, metadata: null, msgId: null, ...partial };
}

t.test('format 2: every combination of fields round-trips, with the batch end flag', async (t) => {
  const key = Buffer.from('order-ü-123');
  const type = Buffer.from('OrderPlaced');
  const metadata = Buffer.from('{"user":"ann","trace":[1,2]}');
  const msgId = Buffer.from('5b0c0f6e-0000-4000-8000-000000000001');
  for (let mask = 0; mask < 16; mask++) {
    for (const batchEnd of [false, true]) {
      const f = fields({
        key: (mask & 1) !== 0 ? key : null,
        version: 2 ** 40 + mask,
        type: (mask & 2) !== 0 ? type : null,
        metadata: (mask & 4) !== 0 ? metadata : null,
        msgId: (mask & 8) !== 0 ? msgId : null,
      });
      const body = Buffer.from(`{"n":${mask}}`);
      const buffer = Buffer.alloc(recordBytes(body.length, f));
      t.equal(encodeRecord(buffer, 0, 77, 5, body, f, batchEnd), buffer.length);
      const decoded = decodeRecord(buffer, 0, buffer.length, MAX, 77);
      if (typeof decoded === 'string') throw new Error(`mask ${mask}: ${decoded}`);
      t.ok(decoded.payload.equals(body), 'the body is exactly the bytes written');
      t.equal(decoded.batchEnd, batchEnd);
      const a = decoded.attributes;
      if (mask === 0) {
        t.equal(a, null, 'no fields: no attributes');
        continue;
      }
      t.equal(a?.key, (mask & 1) !== 0 ? 'order-ü-123' : undefined);
      t.equal(a?.version, (mask & 1) !== 0 ? 2 ** 40 + mask : undefined, 'a version only with a key');
      t.equal(a?.type, (mask & 2) !== 0 ? 'OrderPlaced' : undefined);
      t.equal(a?.metadata?.toString(), (mask & 4) !== 0 ? metadata.toString() : undefined);
      t.equal(a?.msgId, (mask & 8) !== 0 ? msgId.toString() : undefined);
    }
  }
});

t.test('the largest record an append can make (the largest event beside the longest key, type and msg_id) is within what readers accept; the writer never makes a longer one', async (t) => {
  const metadata = Buffer.from('{"m":1}');
  const f = fields({ key: Buffer.alloc(MAX_KEY_BYTES, 0x6b), version: 1, type: Buffer.alloc(MAX_TYPE_BYTES, 0x74), metadata, msgId: Buffer.alloc(MAX_MSG_ID_BYTES, 0x6d) });
  const body = Buffer.alloc(MAX_EVENT_BYTES - metadata.length, 0x62);
  const buffer = Buffer.alloc(recordBytes(body.length, f));
  encodeRecord(buffer, 0, 9, 1, body, f);
  t.equal(buffer.length - RECORD_HEADER_BYTES, MAX_RECORD_LENGTH, 'exactly the longest record');
  const decoded = decodeRecord(buffer, 0, buffer.length, MAX_RECORD_LENGTH, 9);
  t.not(typeof decoded, 'string', 'it decodes');
  if (typeof decoded !== 'string') t.equal(decoded.payload.length, body.length);
  const longer = Buffer.alloc(buffer.length + 1);
  t.throws(() => encodeRecord(longer, 0, 9, 1, Buffer.alloc(body.length + 1), f), { code: 'INTERNAL' }, 'one byte more is a bug, never written');
});

t.test('format 2: malformed fields whose CRC checks are bad-fields, never data', async (t) => {
  const f = fields({ key: Buffer.from('k'), version: 3, msgId: Buffer.from('m') });
  const body = Buffer.from('{}');
  const good = Buffer.alloc(recordBytes(body.length, f));
  encodeRecord(good, 0, 1, 2, body, f);
  const recrc = (b: Buffer) => b.writeUInt32LE(crc32c(b.subarray(4)), 0);
  const cases: [string, (b: Buffer) => void][] = [
    ['an unknown flag', (b) => (b[24] = b[24]! | 0x80)],
    ['a key flag without a key length', (b) => (b[25] = 0)],
    ['a key length without its flag', (b) => (b[24] = b[24]! & ~1)],
    ['a message id longer than 64 bytes', (b) => (b[27] = 65)],
    ['fields longer than the record', (b) => b.writeUInt32LE(1000, 28)],
  ];
  for (const [what, damage] of cases) {
    const bad = Buffer.from(good);
    damage(bad);
    recrc(bad);
    t.equal(decodeRecord(bad, 0, bad.length, MAX, 1), 'bad-fields', what);
  }
});

t.test('format 1 records decode as they were written: the whole content is the payload, each one a batch', async (t) => {
  const payload = Buffer.from('{"old":true}');
  const record = Buffer.alloc(RECORD_HEADER_BYTES + payload.length);
  record.writeUInt32LE(payload.length, 4);
  record.writeUInt32LE(9, 8);
  record.writeUInt32LE(1234, 16);
  payload.copy(record, RECORD_HEADER_BYTES);
  record.writeUInt32LE(crc32c(record.subarray(4)), 0);
  const decoded = decodeRecord(record, 0, record.length, MAX, 9, 1);
  if (typeof decoded === 'string') throw new Error(decoded);
  t.ok(decoded.payload.equals(payload));
  t.equal(decoded.attributes, null);
  t.equal(decoded.batchEnd, true);
  t.equal(decodeRecord(record, 0, record.length, MAX, 9, 2), 'bad-fields', 'read as format 2 it is not mistaken for data');
});
