import t from 'tap';
import { EventBusError } from '../../src/errors.js';
import type { EventView, WrittenEvent } from '../../src/bus/results.js';
import { encodeFailure, encodeSuccess } from '../../src/protocol/response.js';
import { deliveryResponse, eventPageResponse, joinResponses, WriteAck } from '../../src/protocol/response-bytes.js';
import { eventIdOf, type IdEpoch } from '../../src/storage/index.js';

const EPOCHS: IdEpoch[] = [{ storePart: 0x123456789, fromOffset: 0 }];

function written(offset: number, createdMs: number): WrittenEvent {
  return { id: eventIdOf(3, EPOCHS, offset), streamNumber: 3, idEpochs: EPOCHS, offset, createdMs };
}

function event(offset: number, payload: string, createdMs = 0): EventView {
  return { id: eventIdOf(3, EPOCHS, offset), streamNumber: 3, idEpochs: EPOCHS, streamId: 's-id', status: 0, createdMs, payload: Buffer.from(payload), offset, deliveryCount: 1 };
}

const text = (response: WriteAck | Buffer) => joinResponses([response], 1).toString('utf8');

t.test('field order and the one-line rule', async (t) => {
  t.equal(encodeSuccess('health', undefined, undefined), '{"operation":"health","status":true}\n');
  t.equal(encodeSuccess('delete_stream', undefined, '"r1"'), '{"operation":"delete_stream","status":true,"request_id":"r1"}\n');
  t.equal(
    encodeFailure('create_stream', new EventBusError('MISSING_FIELDS', 'missing required fields', { context: { body: [] } }), '3'),
    '{"operation":"create_stream","status":false,"context":{"body":[]},"reason":"missing required fields","code":"MISSING_FIELDS","request_id":3}\n',
  );
  t.equal(encodeFailure('health', new Error('boom'), undefined), '{"operation":"health","status":false,"reason":"internal error","code":"INTERNAL"}\n', 'foreign errors are INTERNAL and say nothing more');
});

t.test('a success never carries reason; a failure always carries reason and code', async (t) => {
  const success = JSON.parse(text(new WriteAck(written(1, 0), undefined)));
  t.notOk('reason' in success);
  t.same(success.body, { event: { id: eventIdOf(3, EPOCHS, 1), offset: 1, created_at: '1970-01-01T00:00:00.000Z' } });
  const fail = JSON.parse(encodeFailure('x', new EventBusError('STREAM_NOT_FOUND', "stream 'a\nb' not found"), undefined));
  t.equal(fail.reason, "stream 'a\nb' not found", 'reasons are JSON-escaped: one line');
});

t.test('a write_event acknowledgement, byte for byte, with and without a request id', async (t) => {
  const id = eventIdOf(3, EPOCHS, 1234567);
  t.equal(
    text(new WriteAck(written(1234567, Date.UTC(2026, 10, 30, 23, 59, 59, 7)), undefined)),
    `{"operation":"write_event","status":true,"body":{"event":{"id":"${id}","offset":1234567,"created_at":"2026-11-30T23:59:59.007Z"}}}\n`,
  );
  t.equal(
    text(new WriteAck(written(0, Date.UTC(2026, 0, 1, 0, 0, 0, 999)), '"é\\"x"')),
    `{"operation":"write_event","status":true,"body":{"event":{"id":"${eventIdOf(3, EPOCHS, 0)}","offset":0,"created_at":"2026-01-01T00:00:00.999Z"}},"request_id":"é\\"x"}\n`,
  );
  for (const ms of [0, 1, 999, 1000, 1001, 86_399_999, 951_782_400_000, Date.now(), 253_402_300_799_999, 253_402_300_800_000, -1, -62_198_755_200_001]) {
    const line = JSON.parse(text(new WriteAck(written(9007199254740991, ms), '12345678901234567890')));
    t.equal(line.body.event.created_at, new Date(ms).toISOString(), `created_at of ${ms}`);
    t.equal(line.body.event.offset, 9007199254740991);
  }
  let all = '';
  for (let offset = 0; offset < 2000; offset += 7) all += text(new WriteAck(written(offset, offset * 37), undefined));
  const lines = all.trimEnd().split('\n').map((line) => JSON.parse(line));
  t.ok(lines.every((line, i) => line.body.event.offset === i * 7 && line.body.event.id === eventIdOf(3, EPOCHS, i * 7) && line.body.event.created_at === new Date(i * 7 * 37).toISOString()), 'offsets, ids and times across many replies');
});

t.test('event lists: payloads spliced in as stored, and the trailers', async (t) => {
  const delivery = deliveryResponse('process_events', { events: [event(0, '{"n":12345678901234567890,"f":1.0}'), event(1, '"é🐢"', 1500)], more: true }, '7').toString('utf8');
  t.equal(
    delivery,
    `{"operation":"process_events","status":true,"body":{"events":[` +
      `{"id":"${eventIdOf(3, EPOCHS, 0)}","stream_id":"s-id","status":0,"created_at":"1970-01-01T00:00:00.000Z","body":{"n":12345678901234567890,"f":1.0},"offset":0,"delivery_count":1},` +
      `{"id":"${eventIdOf(3, EPOCHS, 1)}","stream_id":"s-id","status":0,"created_at":"1970-01-01T00:00:01.500Z","body":"é🐢","offset":1,"delivery_count":1}` +
      `],"more":true},"request_id":7}\n`,
  );
  t.equal(deliveryResponse('retry_events', { events: [], more: false }, undefined).toString(), '{"operation":"retry_events","status":true,"body":{"events":[],"more":false}}\n');
  t.equal(eventPageResponse({ events: [event(5, '1')], nextOffset: 6, atEnd: true }, undefined).toString(), `{"operation":"get_stream_events","status":true,"body":{"events":[{"id":"${eventIdOf(3, EPOCHS, 5)}","stream_id":"s-id","status":0,"created_at":"1970-01-01T00:00:00.000Z","body":1,"offset":5,"delivery_count":1}],"next_offset":6,"at_end":true}}\n`);
  t.equal(
    eventPageResponse({ events: [], nextOffset: 9, atEnd: false, nextVersion: 4 }, '"r"').toString(),
    '{"operation":"get_stream_events","status":true,"body":{"events":[],"next_version":4,"at_end":false},"request_id":"r"}\n',
    'a read by key says the version to continue from',
  );
  t.equal(
    eventPageResponse({ events: [], nextOffset: -1, atEnd: true }, undefined).toString(),
    '{"operation":"get_stream_events","status":true,"body":{"events":[],"next_offset":-1,"at_end":true}}\n',
    'a backward read that reached the start continues from -1',
  );
  const odd = deliveryResponse('process_events', { events: [event(0, 'not\njson'), event(1, '')], more: false }, undefined).toString('utf8');
  t.equal(odd.indexOf('\n'), odd.length - 1, 'a payload with a newline (not written through the protocol) cannot break the line');
  t.same(JSON.parse(odd).body.events.map((e: { body: unknown }) => e.body), ['not\njson', ''], 'it is sent as a JSON string, as is an empty one');
});

t.test('responses are joined in order into one buffer', async (t) => {
  const joined = joinResponses(['a\n', Buffer.from('b\n'), new WriteAck(written(1, 0), undefined), 'ü\n'], 4).toString('utf8');
  t.equal(joined, `a\nb\n${text(new WriteAck(written(1, 0), undefined))}ü\n`);
});
