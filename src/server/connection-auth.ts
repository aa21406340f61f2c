/**
 * The credentials of one connection. Clients send their credentials with every request: once a
 * pair has been verified on this connection, the same strings are accepted without hashing
 * again (comparing with the pair this connection already proved it knows leaks nothing it does
 * not have). A refusal is logged once per connection: a client retrying in a loop must not flood
 * the log.
 */
import type { Credentials } from '../protocol/requests.js';
import type { Logger } from '../storage/logger.js';
import type { Authenticator } from './auth.js';

export class ConnectionAuth {
  private verified: Credentials | null = null;
  private refusalLogged = false;

  constructor(private readonly authenticator: Authenticator, private readonly remote: string) {}

  /** True when `credentials` may run requests on this connection. */
  authorized(credentials: Credentials | null): boolean {
    const verified = this.verified;
    if (verified !== null && credentials !== null && credentials.clientId === verified.clientId && credentials.clientSecret === verified.clientSecret) return true;
    if (!this.authenticator.check(credentials)) return false;
    if (credentials !== null) this.verified = credentials;
    return true;
  }

  /** Logs a refusal, the first time only; `authFailures` is the server's count so far. */
  refused(clientId: string | undefined, authFailures: number, logger: Logger): void {
    if (this.refusalLogged) return;
    this.refusalLogged = true;
    logger.warn(
      // The id only when it is a configured one: a client that swapped its fields sent its secret as the id.
      { remote: this.remote, clientId: clientId !== undefined && this.authenticator.isClientId(clientId) ? clientId : null, authFailures },
      'request refused: unknown client credentials',
    );
  }
}
