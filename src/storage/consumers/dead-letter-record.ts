/**
 * The payload of a dead-letter record: the original event and where it came from, as JSON, in
 * the stream `$dlq:<name>`. The original body is spliced in as stored (the event exactly as
 * written); a body that is not JSON (an embedded user's bytes) is carried as base64 instead. A
 * damaged event has no body to carry: its record says where the damage is instead.
 */
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

/** The record of an event that could be read. */
export function deadLetterPayload(origin: DeadLetterOrigin, event: StoredEvent, nowIso: string): Buffer {
  const head = JSON.stringify({ ...origin, created_at: new Date(event.timestampMs).toISOString(), dead_lettered_at: nowIso });
  const text = event.payload.toString('utf8');
  let isJson = false;
  try {
    JSON.parse(text);
    isJson = true;
  } catch {
    // Not JSON: carried as base64.
  }
  const body = isJson ? `"body":${text}` : `"body_base64":${JSON.stringify(event.payload.toString('base64'))}`;
  return Buffer.from(`${head.slice(0, -1)},${body}}`, 'utf8');
}

/** The record of an event that damage makes unreadable. */
export function damagedDeadLetterPayload(origin: DeadLetterOrigin, damage: Damage, nowIso: string): Buffer {
  const damaged = { file: damage.file, position: damage.position, reason: damage.reason };
  return Buffer.from(JSON.stringify({ ...origin, dead_lettered_at: nowIso, damaged }), 'utf8');
}
