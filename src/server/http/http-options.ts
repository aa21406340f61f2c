/**
 * The options of the HTTP side port (metrics, health, admin page), each with a documented default
 * (docs/operations.md, "The HTTP port"), and their checks. Every resource an HTTP client can make
 * the server hold is bounded by one of these, as on the TCP side.
 */
import { MAX_TIMER_MS, wholeNumberRange } from '../../storage/api-arguments.js';
import { badServerOption, checkHost, checkPort, checkSection } from '../server-options.js';
import type { PageAssets } from './page-assets.js';

export interface HttpOptions {
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Address to bind. Default: the TCP server's host (the same exposure rules apply). */
  host?: string;
  /** Most open HTTP connections; past it Node closes new ones at once. Default 64. */
  maxConnections?: number;
  /**
   * Limit on a request head as Node's parser counts it (maxHeaderSize): the target, header names and
   * values must come to less than this; otherwise 431. Default 16 KiB.
   */
  maxHeaderBytes?: number;
  /** A request head not complete within this long: 408. Default 10 s. */
  headersTimeoutMs?: number;
  /** A whole request (head and body) not received within this long: 408. Default 30 s. */
  requestTimeoutMs?: number;
  /** Largest request body (the admin page's JSON); larger: 413. Default 64 KiB. */
  maxBodyBytes?: number;
  /** Streams with a `stream` label of their own in /metrics (the oldest first); the rest are summed. Default 100. */
  maxLabelledStreams?: number;
  /** (stream, consumer) pairs with labels of their own in /metrics; the rest are summed per stream. Default 1,000. */
  maxLabelledConsumers?: number;
  /** The admin page's files (index.html, its script and styles, uPlot). Without them `/` answers 404. */
  assets?: PageAssets;
}

export type ResolvedHttpOptions = Required<Omit<HttpOptions, 'assets' | 'host'>> & { host: string; assets: PageAssets | undefined };

export const DEFAULT_HTTP_OPTIONS = {
  maxConnections: 64,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxBodyBytes: 64 * 1024,
  maxLabelledStreams: 100,
  maxLabelledConsumers: 1000,
} as const;

/** Bounds other than 1 to 2^53 − 1, as the config file's `http:` section has them. */
const HTTP_BOUNDS: Readonly<Record<string, [number, number]>> = {
  maxHeaderBytes: [1024, 1024 * 1024],
  headersTimeoutMs: [1, MAX_TIMER_MS],
  requestTimeoutMs: [1, MAX_TIMER_MS],
  maxBodyBytes: [1, 64 * 1024 * 1024],
};

/**
 * The options with defaults filled in (`host` defaults to `serverHost`); throws INVALID_FIELD
 * naming a bad one (`http.port`, `http.maxBodyBytes`), in the words of the config file's checks.
 */
export function resolveHttpOptions(options: HttpOptions, serverHost: string): ResolvedHttpOptions {
  checkSection(options, 'http', [...Object.keys(DEFAULT_HTTP_OPTIONS), 'port', 'host', 'assets']);
  if (options === undefined) throw badServerOption('http', 'an object with at least port', options);
  const { port, host, assets, ...rest } = options;
  checkPort(port, 'http.port');
  if (host !== undefined) checkHost(host, 'http.host');
  const resolved = { ...DEFAULT_HTTP_OPTIONS, ...rest };
  for (const [key, value] of Object.entries(resolved)) {
    const [min, max] = HTTP_BOUNDS[key] ?? [1, Number.MAX_SAFE_INTEGER];
    if (!(Number.isSafeInteger(value) && value >= min && value <= max)) {
      throw badServerOption(`http.${key}`, wholeNumberRange(min, max), value);
    }
  }
  return { ...resolved, port, host: host ?? serverHost, assets };
}
