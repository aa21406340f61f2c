/**
 * RESP2, the Redis wire protocol: encoding commands and an incremental reply parser. Enough for
 * XADD, XREADGROUP, XACK, XGROUP, DEL, PING, INFO and SHUTDOWN (bulk strings are decoded as
 * UTF-8; the benchmark's payloads are ASCII JSON).
 */

import { localEndpoint } from '../../src/cli/bench/endpoint.js';
import { PipelinedConnection } from '../../src/cli/bench/pipelined-connection.js';

export type RespValue = string | number | null | RespValue[] | Error;

/** One command as RESP: an array of bulk strings. */
export function respCommand(args: readonly (string | number)[]): Buffer {
  let out = `*${args.length}\r\n`;
  for (const arg of args) {
    const text = String(arg);
    out += `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  }
  return Buffer.from(out);
}

/** Thrown inside the parser when the buffer ends mid-value; never escapes it. */
const INCOMPLETE = Symbol('incomplete');

/** Splits a byte stream into complete RESP values. */
export class RespParser {
  private buffer: Buffer = Buffer.alloc(0);
  private offset = 0;

  /** Feeds bytes; returns the values completed by them, in order. */
  feed(chunk: Buffer): RespValue[] {
    this.buffer = this.buffer.length === this.offset ? chunk : Buffer.concat([this.buffer.subarray(this.offset), chunk]);
    this.offset = 0;
    const values: RespValue[] = [];
    for (;;) {
      const start = this.offset;
      try {
        values.push(this.value());
      } catch (error) {
        if (error !== INCOMPLETE) throw error;
        this.offset = start;
        break;
      }
      if (this.offset >= this.buffer.length) break;
    }
    return values;
  }

  private line(): string {
    const end = this.buffer.indexOf('\r\n', this.offset, 'latin1');
    if (end === -1) throw INCOMPLETE;
    const text = this.buffer.toString('latin1', this.offset + 1, end);
    this.offset = end + 2;
    return text;
  }

  private value(): RespValue {
    if (this.offset >= this.buffer.length) throw INCOMPLETE;
    const type = this.buffer[this.offset];
    switch (type) {
      case 0x2b: // +
        return this.line();
      case 0x2d: // -
        return new Error(this.line());
      case 0x3a: // :
        return Number(this.line());
      case 0x24: { // $
        const length = Number(this.line());
        if (length < 0) return null;
        if (this.offset + length + 2 > this.buffer.length) throw INCOMPLETE;
        const text = this.buffer.toString('utf8', this.offset, this.offset + length);
        this.offset += length + 2;
        return text;
      }
      case 0x2a: { // *
        const count = Number(this.line());
        if (count < 0) return null;
        const items: RespValue[] = new Array(count);
        for (let i = 0; i < count; i++) items[i] = this.value();
        return items;
      }
      default:
        throw new Error(`not RESP: byte ${type} at ${this.offset}`);
    }
  }
}

/** `count` pipelined RESP connections to a Redis on 127.0.0.1:`port`. */
export function openResp(port: number, count = 1): Promise<PipelinedConnection<RespValue>[]> {
  return PipelinedConnection.open(localEndpoint(port), () => new RespParser(), count);
}
