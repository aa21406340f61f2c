/**
 * The payload of a dead-letter record: the original event and where it came from, as JSON, in
 * the stream `$dlq:<name>`. The original body is spliced in as stored (the event exactly as
 * written); a body that is not JSON (an embedded user's bytes) is carried as base64 instead. A
 * record that would be larger than the store takes an event leaves the body out (it says so, and
 * how large the body is): every event can be dead-lettered, however large. A damaged event has no
 * body to carry: its record says where the damage is instead.
 *
 * Each record has a msg_id naming its move (deadLetterMsgId): the engine appends it as an
 * idempotent append, so a move made again within the duplicate window (after a crash between the
 * record and the consumer's journal entry of the move) is recognised and not stored twice.
 */
import { createHash } from 'node:crypto';
import type { Damage } from '../log/segment-check.js';
import type { StoredEvent } from '../log/record-reader.js';

/** Where a dead-lettered event came from. */
export interface DeadLetterOrigin {
  id: string;
  stream: string;
  stream_id: string;
  offset: number;
  consumer: string;
  delivery_count: number;
}

/**
 * The record of an event that could be read. With `maxBytes` (the store's event size limit), a
 * record that would be longer is written without its body: `"body_omitted":true,"body_bytes":N`
 * (N the stored body's size; the event stays readable in its stream while retention keeps it).
 */
export function deadLetterPayload(origin: DeadLetterOrigin, event: StoredEvent, nowIso: string, maxBytes = Number.POSITIVE_INFINITY): Buffer {
  const head = JSON.stringify({ ...origin, created_at: new Date(event.timestampMs).toISOString(), dead_lettered_at: nowIso }).slice(0, -1);
  // Base64 is a third larger than the body, and a body that large cannot fit: not encoded at all.
  const fits = (bodyBytes: number) => Buffer.byteLength(head, 'utf8') + bodyBytes <= maxBytes;
  if (fits(event.payload.length + 10)) {
    const text = event.payload.toString('utf8');
    let isJson = false;
    try {
      JSON.parse(text);
      isJson = true;
    } catch {
      // Not JSON: carried as base64.
    }
    const body = isJson ? `,"body":${text}}` : `,"body_base64":${JSON.stringify(event.payload.toString('base64'))}}`;
    const record = Buffer.from(head + body, 'utf8');
    if (record.length <= maxBytes) return record;
  }
  return Buffer.from(`${head},"body_omitted":true,"body_bytes":${event.payload.length}}`, 'utf8');
}

/** The record of an event that damage makes unreadable. */
export function damagedDeadLetterPayload(origin: DeadLetterOrigin, damage: Damage, nowIso: string): Buffer {
  const damaged = { file: damage.file, position: damage.position, reason: damage.reason };
  return Buffer.from(JSON.stringify({ ...origin, dead_lettered_at: nowIso, damaged }), 'utf8');
}

/**
 * The msg_id of the dead-letter record of `offset` of the stream with id `streamId` (its id, not
 * its name: a stream deleted and made again under the same name has another) for `consumer`:
 * `dlq:` and the base64url SHA-256 of the three (47 characters, within a msg_id's 64 bytes).
 */
export function deadLetterMsgId(streamId: string, offset: number, consumer: string): string {
  return `dlq:${createHash('sha256').update(`${streamId}\u0000${offset}\u0000${consumer}`, 'utf8').digest('base64url')}`;
}
