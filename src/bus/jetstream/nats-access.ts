/**
 * How eventbus proves itself to a NATS cluster and protects the connection: user and password,
 * token, credentials file, TLS (required by a tls:// server URL, a CA or a client certificate).
 * One rule for every connection eventbus makes: the gateway's (jetstream-store.ts) and
 * `eventbus restore --nats-servers` (restore.ts).
 */
import { readFileSync } from 'node:fs';
import { ErrorCode, NatsError, credsAuthenticator, type ConnectionOptions } from 'nats';
import type { JetStreamOptions } from './jetstream-options.js';

/** The options that say who connects and over what: the servers, credentials and TLS. */
export type NatsAccess = Pick<JetStreamOptions, 'servers' | 'user' | 'password' | 'token' | 'credsFile' | 'tls'>;

/** The connection options for `access`'s credentials and TLS (the credentials file is read now). */
export function natsAccessOptions(access: NatsAccess): Pick<ConnectionOptions, 'user' | 'pass' | 'token' | 'authenticator' | 'tls'> {
  const connection: Pick<ConnectionOptions, 'user' | 'pass' | 'token' | 'authenticator' | 'tls'> = {};
  if (access.user !== undefined) connection.user = access.user;
  if (access.password !== undefined) connection.pass = access.password;
  if (access.token !== undefined) connection.token = access.token;
  if (access.credsFile !== undefined) connection.authenticator = credsAuthenticator(readFileSync(access.credsFile));
  // nats.js drops a URL's scheme, and without a tls option uses TLS only where the server offers
  // it: a tls:// server that did not was used in plain text. A tls option makes every server of
  // the connection (one setting for all, also the ones the cluster advertises) offer TLS or be refused.
  if (access.tls !== undefined || access.servers.some((server) => server.startsWith('tls://'))) {
    const tls: NonNullable<ConnectionOptions['tls']> = {};
    if (access.tls?.caFile !== undefined) tls.caFile = access.tls.caFile;
    if (access.tls?.certFile !== undefined) tls.certFile = access.tls.certFile;
    if (access.tls?.keyFile !== undefined) tls.keyFile = access.tls.keyFile;
    connection.tls = tls;
  }
  return connection;
}

/** Why a connect failed, in words: nats.js says only `tls` for a server that offers no TLS. */
export function connectFailure(error: unknown): string {
  if (error instanceof NatsError && error.code === ErrorCode.ServerOptionNotAvailable && error.message === 'tls') {
    return 'the server does not offer TLS, which a tls:// server URL and the NATS TLS files (--nats-tls-ca, --nats-tls-cert) require';
  }
  return error instanceof Error ? error.message : String(error);
}
