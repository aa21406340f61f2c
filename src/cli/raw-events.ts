/**
 * Events out of a response line, each as the exact JSON text the server sent: a body such as
 * `{"n":12345678901234567890}` is printed as stored, where JSON.parse and JSON.stringify would
 * round the number. The parsed response gives each event's fields (id, offset) alongside.
 */
import { arrayElementSpans, findBodyMember, findMember } from '../protocol/raw-json.js';
import type { RawResponse } from '../client/types.js';

export interface RawEvent {
  id: string;
  offset: number;
  status: number;
  created_at: string;
  /** The event object exactly as received: `{"id",…,"body":<as stored>,…}`. */
  json: string;
  /** The event's body exactly as received. */
  body: string;
}

/** The events of a get_stream_events, process_events or retry_events response. */
export function rawEvents({ response, line }: RawResponse): RawEvent[] {
  const parsed = ((response.body as { events?: Record<string, unknown>[] | null } | undefined)?.events) ?? [];
  if (parsed.length === 0) return [];
  const bytes = Buffer.from(line, 'utf8');
  const span = findBodyMember(bytes, 'events');
  const spans = span === null ? [] : arrayElementSpans(bytes, span);
  if (spans.length !== parsed.length) throw new Error(`a response's events could not be split (${spans.length} of ${parsed.length})`);
  return parsed.map((event, i) => {
    const element = bytes.subarray(spans[i]!.start, spans[i]!.end);
    const body = findMember(element, 'body');
    return {
      id: event.id as string,
      offset: event.offset as number,
      status: event.status as number,
      created_at: event.created_at as string,
      json: element.toString('utf8'),
      body: body === null ? 'null' : element.toString('utf8', body.start, body.end),
    };
  });
}
