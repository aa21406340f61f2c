/**
 * Credentials on the HTTP port: the same clients as the TCP protocol (the config file's `auth`
 * map), sent as `Authorization: Basic base64(client_id:client_secret)` (so `curl -u id:secret`
 * works), checked by the same {@link Authenticator}. With no clients configured none are needed,
 * as on TCP.
 *
 * A 401 carries `WWW-Authenticate: Basic` except for the admin page's own requests (marked with
 * `X-Requested-With`): the page asks for the credentials itself, once, instead of the browser's
 * login dialog.
 */
import type { IncomingMessage } from 'node:http';
import type { Credentials } from '../../protocol/requests.js';
import type { Authenticator } from '../auth.js';

/** Longest Authorization header looked at: a client id and secret are short. */
const MAX_AUTHORIZATION_CHARS = 4096;

/** The Basic credentials of `request`, or null when there are none (or they are malformed). */
export function basicCredentials(request: IncomingMessage): Credentials | null {
  const header = request.headers.authorization;
  if (header === undefined || header.length > MAX_AUTHORIZATION_CHARS) return null;
  const match = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
  if (match === null) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { clientId: decoded.slice(0, colon), clientSecret: decoded.slice(colon + 1) };
}

/** True when `request` may change the store (its credentials match a client, or none is configured). */
export function authorized(authenticator: Authenticator, request: IncomingMessage): boolean {
  if (!authenticator.required) return true;
  const credentials = basicCredentials(request);
  return credentials !== null && authenticator.check(credentials);
}

/** The headers of a 401 for `request`. */
export function challengeHeaders(request: IncomingMessage): Record<string, string> {
  return request.headers['x-requested-with'] === undefined ? { 'www-authenticate': 'Basic realm="eventbus", charset="UTF-8"' } : {};
}
