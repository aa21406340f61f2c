import t from 'tap';
import { decodeEventId, encodeEventId, EVENT_ID_BYTES, eventIdOf, isIdOf, MAX_STORE_PART, writeEventId } from '../../src/storage/format/event-id.js';

t.test('event ids round-trip stream number, offset and store part, and look like UUIDs', async (t) => {
  for (const [stream, offset, part] of [[1, 0, 0], [42, 123456789, 0x123456789], [2 ** 32 - 1, 2 ** 53 - 1, MAX_STORE_PART], [7, 2 ** 48, 1]] as const) {
    const id = encodeEventId(stream, offset, part);
    t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[89a-f][0-9a-f]{2}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    t.same(decodeEventId(id), { streamNumber: stream, offset, storePart: part });
  }
});

t.test('ids of the legacy layout (stores made before store parts) still decode', async (t) => {
  for (const [stream, offset] of [[1, 0], [42, 123456789], [2 ** 48 - 1, 2 ** 53 - 1], [7, 2 ** 48]] as const) {
    const id = encodeEventId(stream, offset);
    t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8000-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    t.same(decodeEventId(id), { streamNumber: stream, offset, storePart: null });
  }
  t.same(decodeEventId('00000000-0001-8000-8000-000000000006'), { streamNumber: 1, offset: 6, storePart: null });
});

t.test('a stream\'s id epochs say which store part each offset\'s id carries', async (t) => {
  const epochs = [{ storePart: null, fromOffset: 0 }, { storePart: 5, fromOffset: 10 }, { storePart: 9, fromOffset: 20 }];
  t.equal(eventIdOf(3, epochs, 9), encodeEventId(3, 9));
  t.equal(eventIdOf(3, epochs, 10), encodeEventId(3, 10, 5));
  t.equal(eventIdOf(3, epochs, 25), encodeEventId(3, 25, 9));
  t.ok(isIdOf(decodeEventId(encodeEventId(3, 15, 5))!, epochs));
  t.notOk(isIdOf(decodeEventId(encodeEventId(3, 25, 5))!, epochs), 'another epoch\'s part for that offset is not this stream\'s id');
  t.notOk(isIdOf(decodeEventId(encodeEventId(3, 15))!, epochs), 'nor is a legacy id past the legacy epoch');
});

t.test('foreign ids are not ours', async (t) => {
  t.equal(decodeEventId('not-an-id'), null);
  t.equal(decodeEventId('0b0f2a8e-3c1d-4e5f-9a6b-7c8d9e0f1a2b'), null, 'a random v4 UUID');
  t.equal(decodeEventId('00000000-0000-8000-8000-000000000000'), null, 'stream number 0 is never given');
  t.equal(decodeEventId('00000001-0000-8123-8000-000000000000'), null, 'a version-8 UUID of neither layout');
});

t.test('ids written as bytes are the ids eventIdOf gives', async (t) => {
  const epochs = [{ storePart: null, fromOffset: 0 }, { storePart: 5, fromOffset: 10 }, { storePart: MAX_STORE_PART, fromOffset: 2 ** 40 }];
  const out = Buffer.alloc(EVENT_ID_BYTES + 4, 0x2e);
  // Many streams in turn, so that the prefix cache is filled, evicted and hit.
  for (const stream of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2 ** 32 - 1]) {
    for (const offset of [0, 9, 10, 11, 0xffffff, 0x1000000, 2 ** 40 - 1, 2 ** 40, 2 ** 48 - 1, 2 ** 48, 2 ** 48 + 17, 2 ** 53 - 1]) {
      const end = writeEventId(out, 2, stream, epochs, offset);
      t.equal(end, 2 + EVENT_ID_BYTES);
      const expected = eventIdOf(stream, epochs, offset);
      if (out.toString('latin1', 2, end) !== expected) t.equal(out.toString('latin1', 2, end), expected, `stream ${stream}, offset ${offset}`);
    }
  }
  t.equal(out.toString('latin1', 0, 2) + out.toString('latin1', 2 + EVENT_ID_BYTES), '....', 'nothing written outside the id');
});

t.test('ids that are almost ours are not', async (t) => {
  const id = encodeEventId(42, 123456789, 0x123456789);
  t.ok(decodeEventId(id));
  t.equal(decodeEventId(id.toUpperCase()), null, 'upper case: never written');
  t.equal(decodeEventId(`${id} `), null);
  t.equal(decodeEventId(id.slice(1)), null);
  t.equal(decodeEventId(id.replace(/-/g, '_')), null);
  for (let i = 0; i < id.length; i++) {
    for (const c of ['g', 'x', ' ', '-', 'é']) {
      const changed = id.slice(0, i) + c + id.slice(i + 1);
      if (changed === id) continue;
      const decoded = decodeEventId(changed);
      // A changed hexadecimal digit may still be an id (of another event); anything else is not.
      if (decoded !== null) t.fail(`${changed} decoded as ${JSON.stringify(decoded)}`);
    }
  }
  t.equal(decodeEventId(id.slice(0, 19) + '0' + id.slice(20)), null, 'variant 00');
  t.equal(decodeEventId(id.slice(0, 19) + 'c' + id.slice(20)), null, 'variant 11');
  t.equal(decodeEventId(id.slice(0, 14) + '4' + id.slice(15)), null, 'version 4');
});
