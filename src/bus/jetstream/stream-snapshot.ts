/**
 * Stream snapshots over JetStream's raw API (nats.js 2.x does not wrap it; research §5):
 *
 * - snapshot: subscribe to an inbox, request `$JS.API.STREAM.SNAPSHOT.<stream>` with
 *   `{deliver_subject, no_consumers: false, chunk_size}`; the reply is `{config, state}`; chunks
 *   (an s2-compressed tar of the stream's store, consumers included) arrive on the inbox, each
 *   answered (flow control); an empty message ends it. Saved as `<stream>.snap` beside
 *   `<stream>.snap.json` ({config, state}).
 * - restore: request `$JS.API.STREAM.RESTORE.<stream>` with `{config, state}`; send the bytes to
 *   the `deliver_subject` of the reply, then an empty request, whose reply is the new stream's
 *   info or an error (10130 when the stream exists: restore never overwrites).
 */
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { createInbox, type NatsConnection } from 'nats';

const CHUNK_BYTES = 128 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface ApiReply {
  error?: { code?: number; err_code?: number; description?: string };
  config?: unknown;
  state?: { messages?: number; bytes?: number };
  deliver_subject?: string;
}

function apiError(reply: ApiReply): Error {
  return Object.assign(new Error(reply.error?.description ?? 'JetStream API error'), { api_error: reply.error });
}

/**
 * Snapshots `jsName` into `file` and `file`.json; returns its message and byte counts. The
 * stream's leader answers the request within `requestTimeoutMs` (none: it has no leader, so the
 * cluster cannot serve it now), then the data may stall for `timeoutMs` at most.
 */
export async function snapshotStream(nc: NatsConnection, jsName: string, file: string, timeoutMs: number, requestTimeoutMs = timeoutMs): Promise<{ messages: number; bytes: number }> {
  const inbox = createInbox();
  const out = createWriteStream(file, { mode: 0o600 });
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const sub = nc.subscribe(inbox, {
      callback: (error, msg) => {
        if (error !== null) {
          reject(error);
          return;
        }
        if (msg.data.length === 0) {
          sub.unsubscribe();
          out.end(() => resolve());
          return;
        }
        out.write(msg.data);
        if (msg.reply) msg.respond();
      },
    });
    timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`the snapshot of ${jsName} stalled for ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    await nc.flush();
    const reply = JSON.parse(decoder.decode((await nc.request(`$JS.API.STREAM.SNAPSHOT.${jsName}`, encoder.encode(JSON.stringify({ deliver_subject: inbox, no_consumers: false, chunk_size: CHUNK_BYTES, jsck: false })), { timeout: requestTimeoutMs })).data)) as ApiReply;
    if (reply.error !== undefined) throw apiError(reply);
    await done;
    writeFileSync(`${file}.json`, JSON.stringify({ config: reply.config, state: reply.state }), { mode: 0o600 });
    return { messages: reply.state?.messages ?? 0, bytes: reply.state?.bytes ?? 0 };
  } catch (error) {
    out.destroy();
    done.catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Restores a stream saved by {@link snapshotStream} under its original name (it must not exist). */
export async function restoreStream(nc: NatsConnection, file: string, timeoutMs: number): Promise<void> {
  const meta = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as { config: { name: string }; state: unknown };
  const reply = JSON.parse(decoder.decode((await nc.request(`$JS.API.STREAM.RESTORE.${meta.config.name}`, encoder.encode(JSON.stringify(meta)), { timeout: timeoutMs })).data)) as ApiReply;
  if (reply.error !== undefined) throw apiError(reply);
  const subject = reply.deliver_subject!;
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK_BYTES })) {
    const answer = await nc.request(subject, chunk as Buffer, { timeout: timeoutMs });
    if (answer.data.length > 0) throw new Error(`restore chunk refused: ${decoder.decode(answer.data)}`);
  }
  const end = JSON.parse(decoder.decode((await nc.request(subject, new Uint8Array(0), { timeout: timeoutMs })).data)) as ApiReply;
  if (end.error !== undefined) throw apiError(end);
}
