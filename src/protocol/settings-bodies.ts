/**
 * The wire form of a stream's settings and a consumer's start: `retention` (get_stream_info,
 * set_stream_retention), truncate_stream's result, and a consumer's `start` (get_stream_info).
 */
import type { ConsumerStart, EventFilter, RetentionPolicy } from '../storage/index.js';

/** A consumer's filter: `null`, or `{"key"?,"types"?}`. */
export function filterJson(filter: EventFilter | null): string {
  if (filter === null) return 'null';
  return JSON.stringify({ ...(filter.key === undefined ? {} : { key: filter.key }), ...(filter.types === undefined ? {} : { types: filter.types }) });
}

/** `{"max_age_ms","max_bytes","max_events"}` (0 = unlimited). */
export function retentionJson(retention: RetentionPolicy): string {
  return `{"max_age_ms":${retention.maxAgeMs},"max_bytes":${retention.maxBytes},"max_events":${retention.maxEvents}}`;
}

/** `{"retention":{…}}` (set_stream_retention). */
export function retentionBody(retention: RetentionPolicy): string {
  return `{"retention":${retentionJson(retention)}}`;
}

/** `{"first_offset":N,"next_offset":M}` (truncate_stream). */
export function truncationBody(result: { firstOffset: number; nextOffset: number }): string {
  return `{"first_offset":${result.firstOffset},"next_offset":${result.nextOffset}}`;
}

/** `"all"`, `"new"`, `{"offset":N}` or `{"time":"<RFC 3339>"}`, as process_events takes it. */
export function consumerStartJson(start: ConsumerStart): string {
  switch (start.kind) {
    case 'all':
    case 'new':
      return `"${start.kind}"`;
    case 'offset':
      return `{"offset":${start.offset}}`;
    case 'time':
      return `{"time":"${new Date(start.timeMs).toISOString()}"}`;
  }
}
