/**
 * A delivered JetStream message as the bus shows it: its event id, offset (sequence − 1), time
 * (the gateway's clock at the write, from Eb-Time, else the leader's) and payload bytes.
 */
import type { JsMsg } from 'nats';
import { encodeEventId } from '../../storage/format/event-id.js';
import type { EventStatus } from '../../storage/index.js';
import type { EventView } from '../results.js';
import type { CatalogEntry } from './catalog.js';
import { Headers } from './names.js';

export function timeOfMsg(msg: JsMsg): number {
  const header = msg.headers?.get(Headers.timeMs);
  return header ? Number(header) : Math.floor(msg.info.timestampNanos / 1e6);
}

export function payloadOf(msg: JsMsg): Buffer {
  return Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
}

export function viewOf(entry: CatalogEntry, storePart: number, msg: JsMsg, status: EventStatus, deliveryCount: number): EventView {
  const offset = msg.seq - 1;
  return {
    id: encodeEventId(entry.number, offset, storePart),
    streamId: entry.id,
    status,
    createdMs: timeOfMsg(msg),
    payload: payloadOf(msg),
    offset,
    deliveryCount,
  };
}
