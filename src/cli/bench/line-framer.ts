/**
 * Reply framers for the closed-loop load generator: each counts complete replies in the bytes a
 * socket receives (replies may be split across chunks) and how many of them were failures.
 * `lineFramer` is for newline-delimited JSON (eventbus, the harness's echo server); the harness
 * adds one for RESP (Redis).
 */

export interface ReplyFramer {
  /** Feeds received bytes; returns how many replies completed (failures included). */
  feed(chunk: Buffer): number;
  /** Replies so far that were not successes. */
  failures: number;
  /** The first of them (at most 500 bytes of it), to say why. */
  firstFailure?: string;
}

/** JSON lines; a reply is a success when it starts with `successPrefix`. */
export function lineFramer(successPrefix: string): ReplyFramer {
  const prefix = Buffer.from(successPrefix);
  let carry: Buffer | null = null;
  const framer: ReplyFramer = {
    failures: 0,
    feed(chunk: Buffer): number {
      let data = chunk;
      if (carry !== null) {
        data = Buffer.concat([carry, chunk]);
        carry = null;
      }
      let replies = 0;
      let start = 0;
      for (;;) {
        const end = data.indexOf(10, start);
        if (end === -1) break;
        if (end - start < prefix.length || data.compare(prefix, 0, prefix.length, start, start + prefix.length) !== 0) {
          framer.failures += 1;
          framer.firstFailure ??= data.subarray(start, Math.min(end, start + 500)).toString('utf8');
        }
        replies += 1;
        start = end + 1;
      }
      if (start < data.length) carry = Buffer.from(data.subarray(start));
      return replies;
    },
  };
  return framer;
}
