import t from 'tap';
import { decodeEventId, encodeEventId } from '../../src/storage/format/event-id.js';

t.test('event ids round-trip stream number and offset and look like UUIDs', async (t) => {
  for (const [stream, offset] of [[1, 0], [42, 123456789], [2 ** 48 - 1, 2 ** 53 - 1], [7, 2 ** 48]] as const) {
    const id = encodeEventId(stream, offset);
    t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    t.same(decodeEventId(id), { streamNumber: stream, offset });
  }
});

t.test('foreign ids are not ours', async (t) => {
  t.equal(decodeEventId('not-an-id'), null);
  t.equal(decodeEventId('0b0f2a8e-3c1d-4e5f-9a6b-7c8d9e0f1a2b'), null, 'a random v4 UUID');
  t.equal(decodeEventId('00000000-0000-8000-8000-000000000000'), null, 'stream number 0 is never given');
});
