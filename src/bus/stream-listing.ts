/**
 * `list_streams`: every stream with its figures, a page at a time, in name order (UTF-8 byte
 * order, which is Unicode code point order), so that paging is stable while streams are created
 * and deleted: a page starts at the first name at or after `fromName`, and `nextName` is the first
 * name not returned (null once the list is complete).
 *
 * A page holds at most `maxStreams` streams and, after its first stream, stops before the
 * consumers it lists pass {@link MAX_PAGE_CONSUMERS}: a store of 1,000 streams with 1,000
 * consumers each would otherwise make one response of about 100 MB.
 */
import { ErrorCodes, assert, isEventBusError } from '../errors.js';
import type { Engine } from '../storage/index.js';
import type { StreamInfoView, StreamView } from './results.js';

/** Streams per page when the request gives no `max_streams`. */
export const DEFAULT_PAGE_STREAMS = 100;
/** Cap on `max_streams`. */
export const MAX_PAGE_STREAMS = 1000;
/** A page stops before its consumers pass this many (one stream is always returned). */
export const MAX_PAGE_CONSUMERS = 10_000;

export interface ListStreamsQuery {
  /** First name wanted (inclusive); undefined: from the start. */
  fromName: string | undefined;
  maxStreams: number | undefined;
}

/** A stream whose files could not be opened: its identity and why (its figures are unknown). */
export interface BrokenStreamView extends StreamView {
  error: { code: string; reason: string };
}

export type ListedStream = StreamInfoView | BrokenStreamView;

export interface StreamListing {
  streams: ListedStream[];
  /** Where the next page starts; null when this page ends the list. */
  nextName: string | null;
}

export function isBrokenStream(stream: ListedStream): stream is BrokenStreamView {
  return (stream as BrokenStreamView).error !== undefined;
}

function compareNames(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b);
}

/** One page of the store's streams with their figures (see the module comment). */
export function listStreams(engine: Engine, query: ListStreamsQuery): StreamListing {
  const maxStreams = Math.min(query.maxStreams ?? DEFAULT_PAGE_STREAMS, MAX_PAGE_STREAMS);
  assert(Number.isSafeInteger(maxStreams) && maxStreams >= 1, 'max_streams must be at least 1');
  const from = query.fromName === undefined ? null : Buffer.from(query.fromName, 'utf8');
  const names = engine.listStreams()
    .map((stream) => ({ name: stream.name, key: Buffer.from(stream.name, 'utf8') }))
    .filter((entry) => from === null || compareNames(entry.key, from) >= 0)
    .sort((a, b) => compareNames(a.key, b.key));
  const streams: ListedStream[] = [];
  let consumers = 0;
  for (const { name } of names) {
    if (streams.length >= maxStreams) return { streams, nextName: name };
    const listed = describe(engine, name);
    const count = isBrokenStream(listed) ? 0 : listed.consumers.length;
    if (streams.length > 0 && consumers + count > MAX_PAGE_CONSUMERS) return { streams, nextName: name };
    streams.push(listed);
    consumers += count;
  }
  return { streams, nextName: null };
}

function describe(engine: Engine, name: string): ListedStream {
  try {
    const { id, createdMs, eventCount, firstOffset, nextOffset, bytes, segmentCount, consumers, damage, retention } = engine.stats(name);
    return { id, name, createdMs, eventCount, firstOffset, nextOffset, bytes, segmentCount, consumers, damage, retention: retention.effective };
  } catch (error) {
    // A stream that failed to open at start: list it with the reason rather than fail the page.
    if (!isEventBusError(error) || error.code === ErrorCodes.STREAM_NOT_FOUND || error.code === ErrorCodes.INTERNAL) throw error;
    const stream = engine.getStream(name);
    assert(stream !== undefined, `stream ${name} vanished while listed`);
    return { id: stream.id, name, createdMs: stream.createdMs, error: { code: error.code, reason: error.reason } };
  }
}
