/**
 * A delivered JetStream message as the bus shows it: its event id, offset (sequence − 1), time
 * (the gateway's clock at the write, from Eb-Time, else the leader's) and payload bytes.
 */
import type { JsMsg, StoredMsg } from 'nats';
import { encodeEventId } from '../../storage/format/event-id.js';
import type { EventAttributes, EventStatus } from '../../storage/index.js';
import type { EventView } from '../results.js';
import type { CatalogEntry } from './catalog.js';
import { CLIENT_MSG_ID_PREFIX, Headers } from './names.js';

/** What a view needs of a message: a delivered one (JsMsg), or one got from the leader ({@link fromStored}). */
export type ReadMsg = Pick<JsMsg, 'seq' | 'data' | 'headers'> & { info: { timestampNanos: number } };

/** A message got from the stream's leader (STREAM.MSG.GET) as a {@link ReadMsg}. */
export function fromStored(msg: StoredMsg): ReadMsg {
  return { seq: msg.seq, data: msg.data, headers: msg.header, info: { timestampNanos: msg.time.getTime() * 1e6 } };
}

export function timeOfMsg(msg: ReadMsg): number {
  const header = msg.headers?.get(Headers.timeMs);
  return header ? Number(header) : Math.floor(msg.info.timestampNanos / 1e6);
}

export function payloadOf(msg: ReadMsg): Buffer {
  return Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
}

export function viewOf(entry: CatalogEntry, storePart: number, msg: ReadMsg, status: EventStatus, deliveryCount: number): EventView {
  const offset = msg.seq - 1;
  const view: { -readonly [K in keyof EventView]: EventView[K] } = {
    id: encodeEventId(entry.number, offset, storePart),
    streamId: entry.id,
    status,
    createdMs: timeOfMsg(msg),
    payload: payloadOf(msg),
    offset,
    deliveryCount,
  };
  const h = msg.headers;
  if (h !== undefined) {
    const attributes: EventAttributes = {};
    const key = h.get(Headers.key);
    const version = h.get(Headers.version);
    const type = h.get(Headers.type);
    const metadata = h.get(Headers.metadata);
    const msgId = h.get(Headers.msgId);
    // A key comes with its version. A dead-letter record written before they had a subject of
    // their own has the consumer as its key and no version: it is shown without a key, as now.
    if (key !== '' && version !== '') {
      attributes.key = key;
      attributes.version = Number(version);
    }
    if (type !== '') attributes.type = type;
    if (metadata !== '') attributes.metadata = Buffer.from(metadata, 'utf8');
    // Only the client's own msg_id is shown (the gateway's ids are its own business).
    if (msgId.startsWith(CLIENT_MSG_ID_PREFIX)) attributes.msgId = msgId.slice(CLIENT_MSG_ID_PREFIX.length);
    if (Object.keys(attributes).length > 0) view.attributes = attributes;
  }
  return view;
}
