import t from 'tap';
import { EventBusError } from '../../src/errors.js';
import { deliveryBody, encodeFailure, encodeSuccess, writtenEventBody } from '../../src/protocol/response.js';

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
  const success = JSON.parse(encodeSuccess('write_event', writtenEventBody({ id: 'i', offset: 1, createdMs: 0 }), undefined));
  t.notOk('reason' in success);
  t.same(success.body, { event: { id: 'i', offset: 1, created_at: '1970-01-01T00:00:00.000Z' } });
  const fail = JSON.parse(encodeFailure('x', new EventBusError('STREAM_NOT_FOUND', "stream 'a\nb' not found"), undefined));
  t.equal(fail.reason, "stream 'a\nb' not found", 'reasons are JSON-escaped: one line');
});

t.test('payloads are spliced in as stored', async (t) => {
  const line = encodeSuccess('process_events', deliveryBody({
    events: [{ id: 'i', streamId: 's', status: 0, createdMs: 0, payload: Buffer.from('{"n":12345678901234567890,"f":1.0}'), offset: 0, deliveryCount: 1 }],
    more: false,
  }), undefined);
  t.match(line, '"body":{"n":12345678901234567890,"f":1.0}');
  t.equal(line.indexOf('\n'), line.length - 1);
  const odd = encodeSuccess('process_events', deliveryBody({
    events: [{ id: 'i', streamId: 's', status: 0, createdMs: 0, payload: Buffer.from('not\njson'), offset: 0, deliveryCount: 1 }],
    more: false,
  }), undefined);
  t.equal(odd.indexOf('\n'), odd.length - 1, 'a payload with a newline (not written through the protocol) cannot break the line');
});
