/**
 * What an HTTP request asks for, read from its raw request target, and whom it is addressed to
 * (its Host header, or an absolute-form target's authority).
 *
 * The path is routed as sent, never normalised: a WHATWG URL parser resolves `.` and `..`
 * segments even when percent-encoded (`/api/streams/%2E%2E` becomes `/api/`), and `.` and `..`
 * are valid stream names. So the path is split on `/` and each segment decoded on its own, and
 * every stream name round-trips through `/api/streams/NAME`.
 */
import { ErrorCodes, EventBusError } from '../../errors.js';
import { isLoopbackHost } from '../loopback.js';

export interface RequestTarget {
  /** The path as sent (percent-encoding kept), for routing fixed paths and for messages. */
  readonly path: string;
  /** The path's segments as sent, split on `/` (the first is the empty text before the leading `/`). */
  readonly rawSegments: readonly string[];
  readonly query: URLSearchParams;
  /** The authority of an absolute-form target (`GET http://host:port/path`): whom it is addressed to, in place of Host (RFC 9112 §3.2.2). */
  readonly authority?: string;
}

/** `scheme://authority` at the start of an absolute-form target (`GET http://host/path`). */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/** The target of a request line (`request.url`), or null when it is neither origin-form nor absolute-form. */
export function parseTarget(target: string): RequestTarget | null {
  let rest = target;
  let authority: string | undefined;
  if (!rest.startsWith('/')) {
    const absolute = ABSOLUTE_FORM.exec(rest);
    if (absolute === null) return null;
    authority = absolute[0].slice(absolute[0].indexOf('://') + 3);
    rest = rest.slice(absolute[0].length);
    if (rest === '' || rest.startsWith('?')) rest = `/${rest}`;
    if (!rest.startsWith('/')) return null;
  }
  // A fragment is never sent by a client that follows RFC 9112; dropped as a URL parser would.
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const question = rest.indexOf('?');
  const path = question >= 0 ? rest.slice(0, question) : rest;
  const query = new URLSearchParams(question >= 0 ? rest.slice(question + 1) : '');
  return { path, rawSegments: path.split('/'), query, ...(authority === undefined ? {} : { authority }) };
}

/** One path segment decoded (percent-encoded UTF-8) as a stream name. Throws INVALID_STREAM_NAME. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new EventBusError(ErrorCodes.INVALID_STREAM_NAME, 'the stream name in the path is not valid percent-encoded UTF-8');
  }
}

/**
 * Whom a request is addressed to: the authority of an absolute-form target, else its one Host
 * header (RFC 9112 §3.2.2: a server ignores Host when the target is absolute). Undefined when it
 * names none (HTTP/1.0 without Host).
 */
export function authorityOf(target: RequestTarget, host: string | undefined): string | undefined {
  return target.authority ?? host;
}

/** The host name of a Host header value (`name`, `name:port`, `[v6]`, `[v6]:port`), lower-cased; null when malformed. */
export function hostNameOf(header: string): string | null {
  const value = header.trim().toLowerCase();
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d*)?$/.exec(value);
  if (bracketed !== null) return bracketed[1]!;
  const plain = /^([^:[\]/@\s]+)(?::\d*)?$/.exec(value);
  return plain === null ? null : plain[1]!;
}

/**
 * Whether a request addressed to `header` (its Host, or its absolute-form target's authority) may be answered by a port bound to a loopback
 * address: only when it names a loopback host (`localhost`, 127.x.x.x, `[::1]`, any port), or
 * names none (HTTP/1.0; a browser always sends one). A browser sends the name it resolved, so a
 * page of another site that has its name resolve to 127.0.0.1 (DNS rebinding) sends its own
 * name, and is refused: the same-origin policy would otherwise let it read and change this
 * server as its own origin.
 */
export function loopbackHostAccepted(header: string | undefined): boolean {
  if (header === undefined) return true;
  const name = hostNameOf(header);
  return name !== null && isLoopbackHost(name);
}
