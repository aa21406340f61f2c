/**
 * Response encoding. Every response is one line: a compact JSON object with the fields in the
 * original's order, `operation`, `status`, `body`?, `context`?, `reason`?, then ours, `code` (on
 * every failure) and `request_id` (echoed when the request had one), and a `\n`.
 *
 * A success never has `reason` (the Go client treats its presence as failure); a failure always
 * has `reason` and `code`. The hot responses (write_event, every list of events) are written as
 * bytes, in the same form: response-bytes.ts.
 */
import { ErrorCodes, EventBusError } from '../errors.js';
import type { AppendedBatch, SnapshotView, StreamInfoView, StreamView } from '../bus/results.js';
import { isBrokenStream, type StreamListing } from '../bus/stream-listing.js';
import { OPERATIONS } from './operations.js';
import { consumerStartJson, filterJson, retentionJson } from './settings-bodies.js';

/** `{"operation":"<op>","status":true` and `…false` for every operation, and decode_request. */
const SUCCESS_HEAD = new Map<string, string>();
const FAILURE_HEAD = new Map<string, string>();
for (const operation of [...OPERATIONS, 'decode_request']) {
  SUCCESS_HEAD.set(operation, `{"operation":"${operation}","status":true`);
  FAILURE_HEAD.set(operation, `{"operation":"${operation}","status":false`);
}

function tail(requestIdJson: string | undefined): string {
  return requestIdJson === undefined ? '}\n' : `,"request_id":${requestIdJson}}\n`;
}

/** A success response; `bodyJson` is the body's JSON text, or undefined for none. */
export function encodeSuccess(operation: string, bodyJson: string | undefined, requestIdJson: string | undefined): string {
  const head = SUCCESS_HEAD.get(operation) ?? `{"operation":${JSON.stringify(operation)},"status":true`;
  return bodyJson === undefined ? head + tail(requestIdJson) : `${head},"body":${bodyJson}${tail(requestIdJson)}`;
}

/** A failure response for `error` (anything not an EventBusError is reported as INTERNAL). */
export function encodeFailure(operation: string, error: unknown, requestIdJson: string | undefined): string {
  const failure = error instanceof EventBusError ? error : new EventBusError(ErrorCodes.INTERNAL, 'internal error');
  const head = FAILURE_HEAD.get(operation) ?? `{"operation":${JSON.stringify(operation)},"status":false`;
  let context = '';
  if (failure.context !== undefined && failure.context !== null) {
    try {
      context = `,"context":${JSON.stringify(failure.context)}`;
    } catch {
      context = ''; // not encodable (a cycle, a bigint): the reason and code still say what failed
    }
  }
  return `${head}${context},"reason":${JSON.stringify(failure.reason)},"code":"${failure.code}"${tail(requestIdJson)}`;
}

function time(ms: number): string {
  return new Date(ms).toISOString();
}

function streamFields(stream: StreamView): string {
  return `"id":"${stream.id}","name":${JSON.stringify(stream.name)},"created_at":"${time(stream.createdMs)}"`;
}

/** `{"stream":{"id","name","created_at"}}` (create_stream). */
export function streamBody(stream: StreamView): string {
  return `{"stream":{${streamFields(stream)}}}`;
}

/** `{"stream":{…, figures, consumers}}` (get_stream_info). */
export function streamInfoBody(info: StreamInfoView): string {
  return `{"stream":${streamInfoJson(info)}}`;
}

/**
 * `{"streams":[…],"next_name":…}` (list_streams): each stream as get_stream_info reports it, or,
 * for one whose files could not be opened, its identity and `error` ({code, reason}).
 */
export function streamListingBody(listing: StreamListing): string {
  let streams = '';
  for (const stream of listing.streams) {
    if (streams.length > 0) streams += ',';
    streams += isBrokenStream(stream)
      ? `{${streamFields(stream)},"error":{"code":${JSON.stringify(stream.error.code)},"reason":${JSON.stringify(stream.error.reason)}}}`
      : streamInfoJson(stream);
  }
  return `{"streams":[${streams}],"next_name":${listing.nextName === null ? 'null' : JSON.stringify(listing.nextName)}}`;
}

/** A consumer's failed move to its dead-letter stream, while it lasts; nothing otherwise. */
function deadLetterFailureJson(failure: { code: string; reason: string } | null | undefined): string {
  return failure === null || failure === undefined ? '' : `,"dead_letter_failure":${JSON.stringify({ code: failure.code, reason: failure.reason })}`;
}

function streamInfoJson(info: StreamInfoView): string {
  let consumers = '';
  for (const c of info.consumers) {
    if (consumers.length > 0) consumers += ',';
    consumers += `{"name":${JSON.stringify(c.name)},"cursor":${c.cursor},"ack_floor":${c.ackFloor},"pending":${c.pending},"retry":${c.retry},"dead_lettered":${c.deadLettered},"lag":${c.lag},"start":${consumerStartJson(c.start)},"filter":${filterJson(c.filter)}${deadLetterFailureJson(c.deadLetterFailure)}}`;
  }
  const damage = info.damage.map((d) => JSON.stringify({ file: d.file, position: d.position, first_offset: d.firstOffset, last_offset: d.lastOffset, reason: d.reason })).join(',');
  return (
    `{${streamFields(info)},"event_count":${info.eventCount},"first_offset":${info.firstOffset},` +
    `"next_offset":${info.nextOffset},"bytes":${info.bytes},"segment_count":${info.segmentCount}${info.retention === undefined ? '' : `,"retention":${retentionJson(info.retention)}`},"consumers":[${consumers}],"damage":[${damage}]}`
  );
}

/**
 * `{"event":{"id","offset","created_at","version"?},"next_expected_version":N,"duplicate":bool}`:
 * a write_event that named a key, type, metadata, msg_id or expected version (today's shape
 * plus the new fields).
 */
export function writtenBatchBody(batch: AppendedBatch): string {
  const event = batch.events[0]!;
  const version = event.version === undefined ? '' : `,"version":${event.version}`;
  return (
    `{"event":{"id":"${event.id}","offset":${event.offset},"created_at":"${time(event.createdMs)}"${version}},` +
    `"next_expected_version":${batch.nextExpectedVersion},"duplicate":${batch.duplicate}}`
  );
}

/**
 * `{"first_offset","last_offset","events":[{"id","offset","version"?}],"next_expected_version","duplicate"}`
 * (append_events).
 */
export function appendedBatchBody(batch: AppendedBatch): string {
  let events = '';
  for (const event of batch.events) {
    if (events.length > 0) events += ',';
    events += event.version === undefined ? `{"id":"${event.id}","offset":${event.offset}}` : `{"id":"${event.id}","offset":${event.offset},"version":${event.version}}`;
  }
  const first = batch.events[0]!;
  const last = batch.events[batch.events.length - 1]!;
  return (
    `{"first_offset":${first.offset},"last_offset":${last.offset},"events":[${events}],` +
    `"next_expected_version":${batch.nextExpectedVersion},"duplicate":${batch.duplicate}}`
  );
}

/** `{"snapshot":{…}}` (snapshot_db). */
export function snapshotBody(snapshot: SnapshotView): string {
  return `{"snapshot":${snapshotJson(snapshot)}}`;
}

/**
 * A snapshot as JSON, as snapshot_db answers it (also printed by `eventbus snapshot --json`);
 * `left_out` only when streams could not be taken.
 */
export function snapshotJson(snapshot: SnapshotView): string {
  const leftOut = snapshot.leftOut.length === 0 ? '' : `,"left_out":${JSON.stringify(snapshot.leftOut)}`;
  return (
    `{"path":${JSON.stringify(snapshot.path)},"absolute_path":${JSON.stringify(snapshot.absolutePath)},"created_at":${JSON.stringify(snapshot.createdAt)},"streams":${snapshot.streams},` +
    `"events":${snapshot.events},"bytes":${snapshot.bytes},"linked_files":${snapshot.linkedFiles},"copied_files":${snapshot.copiedFiles},` +
    `"copy_fallback":${snapshot.copyFallback}${leftOut}}`
  );
}
