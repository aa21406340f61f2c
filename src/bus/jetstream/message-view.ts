/** The time of a delivered JetStream message: the gateway's clock at the write (Eb-Time), else the leader's. */
import type { JsMsg } from 'nats';
import { Headers } from './names.js';

export function timeOfMsg(msg: JsMsg): number {
  const header = msg.headers?.get(Headers.timeMs);
  return header ? Number(header) : Math.floor(msg.info.timestampNanos / 1e6);
}
