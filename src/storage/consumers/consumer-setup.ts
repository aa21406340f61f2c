/**
 * Where a consumer starts, and (with record keys, part 2) which events it takes: fixed when the
 * consumer is created by its first `process_events`, journaled in a SETUP record right after
 * its CONSUMER record (journal-codec.ts), and shown by `get_stream_info`.
 *
 * The setup is kept in the journal as compact JSON (`{"start":"new"}`, `{"start":{"offset":5}}`,
 * `{"start":{"time_ms":1764547200000}}`), beside the offset it resolved to, so that fields can be
 * added without a new record layout.
 */
import { ErrorCodes, EventBusError } from '../../errors.js';
import type { EventFilter } from '../event-filter.js';

/** Where a new consumer starts. Default `all`: the oldest stored event (today's behaviour). */
export type ConsumerStart =
  | { kind: 'all' }
  | { kind: 'new' }
  | { kind: 'offset'; offset: number }
  | { kind: 'time'; timeMs: number };

/** A consumer's setup as created. */
export interface ConsumerSetup {
  start: ConsumerStart;
  /** The offset `start` resolved to when the consumer was created. */
  startOffset: number;
  /** Only events of this key and/or these types are delivered (the others are passed over). */
  filter?: EventFilter;
}

export const START_ALL: ConsumerStart = { kind: 'all' };

/** What a start resolves to against a log: offsets [`firstOffset`, `visibleOffset`) are stored. */
export interface StartLog {
  readonly firstOffset: number;
  readonly visibleOffset: number;
  offsetAtTime(timeMs: number): number;
}

/**
 * The cursor a consumer created now with `start` gets. Throws INVALID_FIELD for an offset past
 * the stream's next offset (an offset below the oldest stored starts at the oldest stored).
 */
export function resolveStart(start: ConsumerStart, log: StartLog): number {
  switch (start.kind) {
    case 'all':
      return log.firstOffset;
    case 'new':
      return log.visibleOffset;
    case 'offset':
      if (start.offset > log.visibleOffset) {
        throw new EventBusError(ErrorCodes.INVALID_FIELD, `start offset ${start.offset} is past the stream's next offset (${log.visibleOffset})`, {
          context: { field: 'start.offset', expected: `an integer from 0 to ${log.visibleOffset}` },
        });
      }
      return Math.max(start.offset, log.firstOffset);
    case 'time':
      return log.offsetAtTime(start.timeMs);
  }
}

/** The setup as the journal keeps it. */
export function encodeSetupSpec(setup: ConsumerSetup): string {
  const start = setup.start;
  const json = start.kind === 'offset' ? { offset: start.offset } : start.kind === 'time' ? { time_ms: start.timeMs } : start.kind;
  return JSON.stringify({ start: json, ...(setup.filter?.key === undefined ? {} : { key: setup.filter.key }), ...(setup.filter?.types === undefined ? {} : { types: setup.filter.types }) });
}

/** A setup from the journal; null if it is not one (damage). */
export function decodeSetupSpec(spec: string, startOffset: number): ConsumerSetup | null {
  let value: unknown;
  try {
    value = JSON.parse(spec);
  } catch {
    return null;
  }
  const { start, key, types } = (value ?? {}) as { start?: unknown; key?: unknown; types?: unknown };
  const filter: EventFilter = {};
  if (typeof key === 'string') filter.key = key;
  if (Array.isArray(types) && types.every((t) => typeof t === 'string')) filter.types = types as string[];
  const withFilter = filter.key === undefined && filter.types === undefined ? {} : { filter };
  if (start === 'all' || start === 'new') return { start: { kind: start }, startOffset, ...withFilter };
  if (typeof start === 'object' && start !== null) {
    const { offset, time_ms: timeMs } = start as { offset?: unknown; time_ms?: unknown };
    if (Number.isSafeInteger(offset)) return { start: { kind: 'offset', offset: offset as number }, startOffset, ...withFilter };
    if (Number.isSafeInteger(timeMs)) return { start: { kind: 'time', timeMs: timeMs as number }, startOffset, ...withFilter };
  }
  return null;
}
