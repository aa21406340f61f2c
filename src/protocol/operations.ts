/**
 * The operations of the wire protocol, in the original event-bus's order, and the fields each
 * one requires (as the original listed them in its `missing required fields` context).
 */

/**
 * Every operation, in the order the original listed them (snapshot_db from the seed version),
 * then ours (list_streams; event sourcing: append_events, subscribe, unsubscribe,
 * set_stream_retention, truncate_stream) before `exit`.
 */
export const OPERATIONS = [
  'health',
  'create_stream',
  'delete_stream',
  'get_stream_info',
  'get_stream_events',
  'write_event',
  'process_events',
  'retry_events',
  'mark_event',
  'snapshot_db',
  'list_streams',
  'append_events',
  'subscribe',
  'unsubscribe',
  'set_stream_retention',
  'truncate_stream',
  'exit',
] as const;

export type Operation = (typeof OPERATIONS)[number];

/** The operation named in responses to lines that could not be decoded into a request. */
export const DECODE_REQUEST = 'decode_request';

/** One entry of the `missing required fields` context: Go type names, as the original sent them. */
export interface RequiredField {
  name: string;
  type: 'string' | '[]byte' | 'uint8' | '[]event' | 'uint64' | 'object';
  required: true;
}

const streamName: RequiredField = { name: 'stream_name', type: 'string', required: true };

/**
 * The required body fields of each operation that has a body, in the original's order.
 * `list_streams` and `unsubscribe` have no required field, and their body may be left out altogether.
 */
export const REQUIRED_FIELDS: ReadonlyMap<Operation, readonly RequiredField[]> = new Map<Operation, readonly RequiredField[]>([
  ['create_stream', [streamName]],
  ['delete_stream', [streamName]],
  ['get_stream_info', [streamName]],
  ['get_stream_events', [streamName]],
  ['write_event', [streamName, { name: 'event', type: '[]byte', required: true }]],
  ['process_events', [streamName]],
  ['retry_events', [streamName]],
  ['mark_event', [{ name: 'event_id', type: 'string', required: true }, { name: 'status', type: 'uint8', required: true }]],
  ['snapshot_db', [{ name: 'output', type: 'string', required: true }]],
  ['list_streams', []],
  ['append_events', [streamName, { name: 'events', type: '[]event', required: true }]],
  ['subscribe', [streamName]],
  ['unsubscribe', []],
  ['set_stream_retention', [streamName, { name: 'retention', type: 'object', required: true }]],
  ['truncate_stream', [streamName, { name: 'before_offset', type: 'uint64', required: true }]],
]);

const byName: ReadonlyMap<string, Operation> = new Map(OPERATIONS.map((op) => [op, op]));

/**
 * The operation called `name`, or undefined. A Map, never an object lookup, so that names such as
 * `constructor` or `__proto__` are simply unknown.
 */
export function lookupOperation(name: string): Operation | undefined {
  return byName.get(name);
}
