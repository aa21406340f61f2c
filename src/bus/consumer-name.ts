/**
 * Consumer names follow the rules of stream names (the engine's validateConsumerName). Checked
 * here too so that reads that never create a consumer (`get_stream_events`) reject the same names
 * as those that do.
 */
import { DEFAULT_CONSUMER } from '../storage/index.js';
import { validateConsumerName } from '../storage/stream-name.js';

/** The consumer a request names, `default` when it names none. Throws INVALID_FIELD. */
export function consumerName(name: string | undefined): string {
  if (name === undefined || name === DEFAULT_CONSUMER) return DEFAULT_CONSUMER;
  validateConsumerName(name);
  return name;
}
