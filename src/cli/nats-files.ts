/**
 * The files the jetstream backend reads to connect to NATS (credentials, TLS CA, client
 * certificate and key), checked by `eventbus serve` and `restore --nats-servers` before anything
 * is opened, logged or sent: a wrong path is one line naming the option, the config key and the
 * file, not a failure at connect after the start was logged (or, for a CA or client certificate,
 * only once a server offers TLS).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ErrorCodes, EventBusError } from '../errors.js';
import type { JetStreamOptions } from '../bus/jetstream/jetstream-options.js';

/** Reads `file`, or throws INVALID_FIELD naming what it is, where it was set and why it cannot be read. */
function readNatsFile(file: string, what: string, where: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `cannot read the NATS ${what} ${file} (${where}): ${errno}`);
  }
}

/**
 * Checks that each NATS file named in `options` can be read, that the CA is a PEM certificate and
 * that the client certificate and key make a usable pair. Throws INVALID_FIELD (exit status 1, as
 * for the server's own TLS files).
 */
export function checkNatsFiles(options: Pick<JetStreamOptions, 'credsFile' | 'tls'>): void {
  if (options.credsFile !== undefined) readNatsFile(options.credsFile, 'credentials file', '--nats-creds, backend.creds in the config file');
  const { caFile, certFile, keyFile } = options.tls ?? {};
  if (caFile !== undefined) {
    const ca = readNatsFile(caFile, 'TLS CA', '--nats-tls-ca, backend.tls_ca in the config file');
    try {
      new X509Certificate(ca);
    } catch (error) {
      throw new EventBusError(ErrorCodes.INVALID_FIELD, `the NATS TLS CA ${caFile} (--nats-tls-ca, backend.tls_ca in the config file) is no PEM certificate: ${(error as Error).message}`);
    }
  }
  if (certFile === undefined || keyFile === undefined) return;
  const cert = readNatsFile(certFile, 'TLS certificate', '--nats-tls-cert, backend.tls_cert in the config file');
  const key = readNatsFile(keyFile, 'TLS key', '--nats-tls-key, backend.tls_key in the config file');
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `the NATS TLS certificate ${certFile} and key ${keyFile} cannot be used: ${(error as Error).message}`);
  }
}
