/**
 * The server's limits, each with a documented default (docs/protocol.md, "Limits"). Every
 * resource a client can make the server hold is bounded by one of these.
 */
import { MAX_TIMER_MS, wholeNumberRange } from '../storage/api-arguments.js';
import { badServerOption, checkSection } from './server-options.js';

export interface ServerLimits {
  /** Longest request line, `\n` excluded. Longer: LINE_TOO_LONG, then the connection closes. Default 5 MiB (an append_events batch of 4 MiB fits). */
  maxLineBytes: number;
  /** Most open connections. The one past it gets TOO_MANY_CONNECTIONS and is closed. Default 10,000. */
  maxConnections: number;
  /** Requests read but not yet answered, per connection; past it the server stops reading. Default 256. */
  maxInFlightRequests: number;
  /** Bytes of request lines read but not yet answered, per connection (one line always fits). Default 8 MiB. */
  maxInFlightBytes: number;
  /** Response bytes queued for a connection that does not read; past it, disconnected. Default 32 MiB. */
  maxOutputBytes: number;
  /** A connection whose output has not drained for this long is disconnected (not a subscription's: its output is bounded by the subscription). Default 30 s. */
  outputStallTimeoutMs: number;
  /** A connection with nothing in flight that sends nothing for this long is closed; 0 = never. Default 10 min. */
  idleTimeoutMs: number;
  /** A line started but not finished for this long gets TIMEOUT and the connection closes. Default 30 s. */
  partialLineTimeoutMs: number;
  /** After the server's last line to a closing connection, how long it waits for the client to close. Default 2 s. */
  closeLingerMs: number;
  /** Most ids in one `mark_event`. Default 1,000. */
  maxMarkEventIds: number;
  /** At shutdown, how long in-flight requests (long-polls included) get to finish. Default 10 s. */
  shutdownTimeoutMs: number;
  /**
   * A live subscriber's events sent and not yet read by it (queued in the server); past it the
   * subscription ends with SLOW_CONSUMER and the last offset sent. Default 8 MiB.
   */
  maxSubscriptionBufferBytes: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  maxLineBytes: 5 * 1024 * 1024,
  maxConnections: 10_000,
  maxInFlightRequests: 256,
  maxInFlightBytes: 8 * 1024 * 1024,
  maxOutputBytes: 32 * 1024 * 1024,
  outputStallTimeoutMs: 30_000,
  // Never by default: the original never closed an idle connection, and its Go client keeps one
  // connection for its whole life with no reconnect. Dead peers are found by TCP keepalive
  // (connection.ts), and idle connections are bounded by maxConnections (about 5 KB each).
  idleTimeoutMs: 0,
  partialLineTimeoutMs: 30_000,
  closeLingerMs: 2_000,
  maxMarkEventIds: 1000,
  shutdownTimeoutMs: 10_000,
  maxSubscriptionBufferBytes: 8 * 1024 * 1024,
};

/** The limits that set a timer: at most MAX_TIMER_MS (a longer delay would fire at once), as the config file says. */
const TIMER_LIMITS: ReadonlySet<string> = new Set(['outputStallTimeoutMs', 'partialLineTimeoutMs', 'closeLingerMs', 'shutdownTimeoutMs']);
/** 0 turns it off. */
const MAY_BE_ZERO: ReadonlySet<string> = new Set(['idleTimeoutMs']);

/**
 * The limits with defaults filled in; throws INVALID_FIELD naming a bad one (`limits.maxConnections`)
 * in the words of the config file's checks: an object of known limits, each a whole number of at
 * least 1 (idleTimeoutMs: 0, never), a timer's at most 2,147,483,647 ms.
 */
export function resolveLimits(limits: Partial<ServerLimits> = {}): ServerLimits {
  checkSection(limits, 'limits', Object.keys(DEFAULT_LIMITS));
  const resolved: ServerLimits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(limits)) {
    if (value !== undefined) (resolved as unknown as Record<string, unknown>)[key] = value;
  }
  for (const [key, value] of Object.entries(resolved)) {
    const min = MAY_BE_ZERO.has(key) ? 0 : 1;
    const max = TIMER_LIMITS.has(key) ? MAX_TIMER_MS : Number.MAX_SAFE_INTEGER;
    if (!(Number.isSafeInteger(value) && value >= min && value <= max)) {
      throw badServerOption(`limits.${key}`, wholeNumberRange(min, max), value);
    }
  }
  return resolved;
}
