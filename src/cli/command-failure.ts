/**
 * A failure of a client command (streams, write, read, ...) as the user sees it: one line,
 * `CODE: reason` with a hint where one helps, and the exit status for its kind (exit-status.ts).
 * {@link clientFailure} turns what the client library rejects with into one.
 */
import { isIPv6 } from 'node:net';
import { ErrorCodes, isEventBusError, type ErrorCode } from '../errors.js';
import type { ExitStatusValue } from './exit-status.js';

/**
 * A host as given, without the brackets around an IPv6 address (`[::1]`, the form errors print
 * it in): the address itself.
 */
export function unbracketedHost(host: string): string {
  const inner = /^\[(.*)\]$/.exec(host)?.[1];
  return inner !== undefined && isIPv6(inner) ? inner : host;
}

export class CommandFailure extends Error {
  constructor(readonly status: ExitStatusValue, message: string) {
    super(message);
    this.name = 'CommandFailure';
  }
}

/** Codes that mean no server could be reached, or the connection ended under the request. */
const UNAVAILABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.CONNECTION_ERROR, ErrorCodes.TIMEOUT, ErrorCodes.CLOSED, ErrorCodes.TOO_MANY_CONNECTIONS, ErrorCodes.SHUTTING_DOWN,
]);

/** Where the command tried to connect, for the hints. */
export interface Target {
  host: string;
  port: number;
  /** Whether the command spoke TLS (for the hint when the server closes the connection unanswered). */
  tls?: boolean;
}

/** `host:port` of the target, `[::1]:8080` for an IPv6 address. */
export function hostPort(target: Pick<Target, 'host' | 'port'>): string {
  // As the client library's hostPort, without loading it (exit-status.ts, and so every command, imports this file).
  return isIPv6(target.host) ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/**
 * The failure for an error from the client: unreachable (69), unauthorized (77), or any other
 * answer of the server (3). Anything else (a bug) is rethrown as it is.
 */
export function clientFailure(error: unknown, target: Target): CommandFailure {
  if (error instanceof CommandFailure) return error;
  if (!isEventBusError(error)) throw error;
  // One line whatever the reason holds (OpenSSL's errors end in a newline), OpenSSL's text in words.
  const line = `${error.code}: ${tlsInWords(error.reason).replace(/\s*\n\s*/g, ' ').trim()}`;
  if (UNAVAILABLE_CODES.has(error.code)) return new CommandFailure(69, `${line}${unavailableHint(error, target)}`);
  if (error.code === ErrorCodes.UNAUTHORIZED) {
    return new CommandFailure(77, `${line} (the server at ${hostPort(target)} needs the client id and secret of a configured client: --auth ID:SECRET or EVENTBUS_AUTH)`);
  }
  return new CommandFailure(3, line);
}

/**
 * OpenSSL's own error text, as Node passes it on (`80FC2CAF807F0000:error:0A00010B:SSL
 * routines:ssl3_get_record:wrong version number:../deps/openssl/…/ssl3_record.c:350:`): its
 * reason is the group before the source file.
 */
const OPENSSL_ERROR = /[0-9A-F]{8,}:error:[0-9A-F]{8}:[^:\n]*:[^:\n]*:([^:\n]+):[^\s:]*:\d+:/g;

/** A reason with OpenSSL's text replaced by what it means (its reason kept for searching). */
function tlsInWords(reason: string): string {
  return reason.replace(OPENSSL_ERROR, (_text, why: string) => (why === 'wrong version number'
    // The first bytes the server sent were no TLS record: a server without TLS, most likely.
    ? `the server did not answer in TLS (OpenSSL: ${why})`
    : `TLS failed (OpenSSL: ${why})`));
}

/** Certificate errors that trusting the server's own certificate, or its CA's, with --tls-ca would end. */
const UNTRUSTED_CERTIFICATE = /self[- ]signed certificate|unable to get local issuer certificate|unable to verify the first certificate/;

/** What to try when the server could not be reached: a server to start, TLS on one side only, a CA to trust. */
function unavailableHint(error: { code: string; reason: string }, target: Target): string {
  if (error.code !== ErrorCodes.CONNECTION_ERROR) return '';
  // A TLS server closes a plain connection without a word (its first line is no handshake): the
  // client says "before any answer" only for a close right after the first request with nothing
  // received; a close after answers, or of a long-poll later on, is something else (a server stopped).
  if (target.tls === false && /the connection was closed before any answer/.test(error.reason)) return ' (a server with TLS? give --tls, or --tls-ca FILE for a self-signed certificate)';
  if (/ECONNREFUSED/.test(error.reason)) return ` (is a server running there? start one with 'eventbus serve', or give --host/--port or EVENTBUS_HOST/EVENTBUS_PORT)`;
  if (/SSL routines|wrong version number|EPROTO/.test(error.reason)) return ' (TLS on one side only? leave out --tls for a server without it, or give --tls for one with it)';
  if (target.tls === true && UNTRUSTED_CERTIFICATE.test(error.reason)) return " (trust it with --tls-ca FILE: the server's certificate, or its CA's, in PEM)";
  return '';
}
