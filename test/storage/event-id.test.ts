import t from 'tap';
import { decodeEventId, encodeEventId, eventIdOf, isIdOf, MAX_STORE_PART } from '../../src/storage/format/event-id.js';

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
