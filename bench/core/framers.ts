/**
 * The RESP reply framer for the closed-loop load generator (Redis); the JSON-lines one, and the
 * generator itself, are in src/cli/bench (`eventbus bench` ships them).
 */
import type { ReplyFramer } from '../../src/cli/bench/line-framer.js';
import { RespParser } from './resp.js';

/** RESP replies; error replies (`-ERR …`) are failures. */
export function respFramer(): ReplyFramer {
  const parser = new RespParser();
  const framer: ReplyFramer = {
    failures: 0,
    feed(chunk: Buffer): number {
      const values = parser.feed(chunk);
      for (const value of values) if (value instanceof Error) framer.failures += 1;
      return values.length;
    },
  };
  return framer;
}
