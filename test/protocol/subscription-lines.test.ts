/**
 * A subscription's lines (src/protocol/subscription-lines.ts), byte for byte against
 * JSON.stringify of the shape docs/protocol.md documents: `{"operation":"subscribe","status":true,
 * "body":{"events":[Event…],"next_offset":N},"request_id":…}`, an Event's fields in the documented
 * order. Payloads are stored compacted (as JSON.stringify writes them), so the event lines that
 * splice stored bytes in must equal JSON.stringify of the parsed values, unicode and escapes included.
 */
import t from 'tap';
import { EventBusError } from '../../src/errors.js';
import type { EventView } from '../../src/bus/results.js';
import { joinResponses, lineTail, responseChunks, type Response } from '../../src/protocol/response-bytes.js';
import { caughtUpLine, subscriptionEndLine, subscriptionEventsLine, unsubscribedLine } from '../../src/protocol/subscription-lines.js';
import { eventIdOf, type EventAttributes, type IdEpoch } from '../../src/storage/index.js';

const EPOCHS: IdEpoch[] = [{ storePart: 0x123456789, fromOffset: 0 }];
const STREAM_ID = 'dc079a8f-b085-4e7e-878c-3eafa3d5e706';

const text = (line: Response) => joinResponses([line], 1).toString('utf8');

/** Values whose JSON text has unicode (BMP, astral, separators) and every kind of escape. */
const PAYLOADS: unknown[] = [
  { id: 1, total: 12.5, name: 'é🐢 ü' },
  'quote " backslash \\ slash / newline \n tab \t cr \r',
  '\u0000\u0001\u001f\u007f control characters',
  '\u2028\u2029 line and paragraph separators',
  'lone surrogates are escaped: \ud800 \udfff',
  ['日本語', { nested: { deep: [true, false, null] } }, -0.5, 1e21],
  42,
  null,
];

interface Documented {
  id: string;
  stream_id: string;
  status: number;
  created_at: string;
  body: unknown;
  offset: number;
  delivery_count: number;
  key?: string;
  version?: number;
  type?: string;
  metadata?: unknown;
  msg_id?: string;
}

function eventOf(offset: number, payload: unknown, createdMs: number, attributes: EventAttributes | null): { view: EventView; documented: Documented } {
  const id = eventIdOf(3, EPOCHS, offset);
  const view: EventView = { id, streamNumber: 3, idEpochs: EPOCHS, streamId: STREAM_ID, status: 0, createdMs, payload: Buffer.from(JSON.stringify(payload)), offset, deliveryCount: 0, attributes };
  const documented: Documented = { id, stream_id: STREAM_ID, status: 0, created_at: new Date(createdMs).toISOString(), body: payload, offset, delivery_count: 0 };
  if (attributes?.key !== undefined) Object.assign(documented, { key: attributes.key, version: attributes.version });
  if (attributes?.type !== undefined) documented.type = attributes.type;
  if (attributes?.metadata !== undefined) documented.metadata = JSON.parse(attributes.metadata.toString('utf8'));
  if (attributes?.msgId !== undefined) documented.msg_id = attributes.msgId;
  return { view, documented };
}

function documentedLine(events: Documented[], nextOffset: number, requestId?: unknown): string {
  const line: Record<string, unknown> = { operation: 'subscribe', status: true, body: { events, next_offset: nextOffset } };
  if (requestId !== undefined) line.request_id = requestId;
  return `${JSON.stringify(line)}\n`;
}

t.test('event lines are JSON.stringify of the documented shape, byte for byte, unicode and escapes included', async (t) => {
  const attributes: (EventAttributes | null)[] = [
    null,
    { key: 'order-ü"\\🐢', version: 7 },
    { type: 'Type\twith\u2028escapes' },
    { metadata: Buffer.from(JSON.stringify({ trace: 'é\n"x"', n: [1, 2] })) },
    { msgId: 'msg-\u0000-日本' },
    { key: 'k', version: 1, type: 't', metadata: Buffer.from(JSON.stringify({ a: 'é' })), msgId: 'm' },
    null,
    null,
  ];
  const events = PAYLOADS.map((payload, i) => eventOf(1_000_000 + i, payload, Date.UTC(2026, 10, 27, 8, 24, 22, i * 111), attributes[i]!));
  const views = events.map((e) => e.view);
  const documented = events.map((e) => e.documented);
  for (const requestId of [undefined, 7, 'r-1', 'é\\"🐢\u2028', { nested: ['id', 1] }]) {
    const requestIdJson = requestId === undefined ? undefined : JSON.stringify(requestId);
    const line = text(subscriptionEventsLine(views, 1_000_008, lineTail(requestIdJson)));
    t.equal(line, documentedLine(documented, 1_000_008, requestId), `request id ${requestIdJson === undefined ? 'none' : encodeURIComponent(requestIdJson)}`);
    t.equal(line.indexOf('\n'), line.length - 1, 'one line');
  }
  t.equal(text(subscriptionEventsLine([], 0, lineTail('1'))), documentedLine([], 0, 1), 'an empty page');
});

t.test('a page shared by subscribers is encoded once and ends with each one\'s request id', async (t) => {
  const { view, documented } = eventOf(5, { shared: 'ü' }, 0, null);
  const page = [view];
  const first = subscriptionEventsLine(page, 6, lineTail('"a"'));
  const second = subscriptionEventsLine(page, 6, lineTail('"bé"'));
  t.equal(text(first), documentedLine([documented], 6, 'a'));
  t.equal(text(second), documentedLine([documented], 6, 'bé'));
  t.equal(first.maxBytes, Buffer.byteLength(text(first)), 'its size is exact: a subscription counts the bytes it has waiting');
  t.equal(second.maxBytes, Buffer.byteLength(text(second)));
  t.equal(joinResponses([first, caughtUpLine(6, '"a"'), second], 3).toString('utf8'), text(first) + caughtUpLine(6, '"a"') + text(second), 'joined with text lines in order');
});

t.test('a long shared page is written by reference, once per subscriber, and the bytes are those of the joined lines', async (t) => {
  const events = Array.from({ length: 20 }, (_, i) => eventOf(i, { i, pad: 'x'.repeat(40) }, 0, null));
  const page = events.map((e) => e.view);
  const a = subscriptionEventsLine(page, 20, lineTail('"a"'));
  const b = subscriptionEventsLine(page, 20, lineTail(undefined));
  t.ok(a.head.length >= 512, `a page of ${a.head.length} bytes`);
  const responses: Response[] = ['{"x":1}\n', a, caughtUpLine(20, '"a"'), b];
  const chunks = responseChunks(responses, responses.length);
  t.equal(Buffer.concat(chunks).toString('utf8'), joinResponses(responses, responses.length).toString('utf8'), 'the same bytes as one joined buffer, in order');
  t.equal(chunks.filter((chunk) => chunk === a.head).length, 2, 'the shared page itself, for each of the two lines: not a copy');
  const short = subscriptionEventsLine([events[0]!.view], 1, lineTail('"a"'));
  const one = responseChunks(['{"x":1}\n', short], 2);
  t.equal(one.length, 1, 'a short line is copied into the one buffer of the flush');
  t.equal(one[0]!.toString('utf8'), '{"x":1}\n' + text(short));
});

t.test('without a request id every subscriber of a page is sent one shared buffer, the whole documented line', async (t) => {
  const events = Array.from({ length: 20 }, (_, i) => eventOf(i, { i, pad: 'é'.repeat(40) }, 0, null));
  const page = events.map((e) => e.view);
  const first = subscriptionEventsLine(page, 20, null);
  const second = subscriptionEventsLine(page, 20, null);
  t.equal(first, second, 'the same buffer for each subscriber, not a copy');
  t.equal(first.toString('utf8'), documentedLine(events.map((e) => e.documented), 20), 'the documented line, newline included');
  t.equal(text(subscriptionEventsLine(page, 20, lineTail('"a"'))), documentedLine(events.map((e) => e.documented), 20, 'a'), 'a subscriber with a request id still gets its own tail');
  const chunks = responseChunks([first], 1);
  t.equal(chunks.length, 1, 'alone in a flush it is written as it is');
  t.equal(chunks[0], first);
});

t.test('payloads that cannot go into a line as stored are sent as JSON strings', async (t) => {
  const empty = eventOf(0, '', 0, null);
  const broken = eventOf(1, '', 0, null);
  empty.view.payload = Buffer.alloc(0);
  broken.view.payload = Buffer.from('not\njson é');
  const line = text(subscriptionEventsLine([empty.view, broken.view], 2, lineTail(undefined)));
  t.equal(line, documentedLine([{ ...empty.documented, body: '' }, { ...broken.documented, body: 'not\njson é' }], 2));
});

t.test('the other lines of a subscription', async (t) => {
  t.equal(caughtUpLine(12, '"r"'), '{"operation":"subscribe","status":true,"body":{"caught_up":true,"next_offset":12},"request_id":"r"}\n');
  t.equal(unsubscribedLine(12, undefined), '{"operation":"unsubscribe","status":true,"body":{"next_offset":12}}\n');
  const end = new EventBusError('SLOW_CONSUMER', 'too slow', { context: { last_offset: 11, next_offset: 12 } });
  t.equal(subscriptionEndLine(end, '3'), '{"operation":"subscribe","status":false,"context":{"last_offset":11,"next_offset":12},"reason":"too slow","code":"SLOW_CONSUMER","request_id":3}\n');
});
