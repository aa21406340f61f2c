/**
 * Client authentication, as the original: every operation but `health` and `exit` needs the
 * `client_id` and `client_secret` of a configured client; with no clients configured, none is
 * needed. Credentials are compared as SHA-256 digests with crypto.timingSafeEqual (equal lengths,
 * constant time), against every configured client with no early exit, so timing tells nothing
 * about which part matched. Secrets are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Credentials } from '../protocol/requests.js';

/** A configured client, in the original's config.yaml terms. */
export interface ClientCredentials {
  client_id: string;
  client_secret: string;
}

function digest(clientId: string, clientSecret: string): Buffer {
  // Lengths first, so that no two different (id, secret) pairs hash the same input.
  return createHash('sha256').update(`${clientId.length}:${clientId}:${clientSecret}`, 'utf8').digest();
}

export class Authenticator {
  private readonly digests: Buffer[];
  private readonly ids: ReadonlySet<string>;

  /** `clients` maps client names to credentials (the original's `auth` map). */
  constructor(clients: Readonly<Record<string, ClientCredentials>> = {}) {
    this.digests = Object.values(clients).map((c) => digest(c.client_id, c.client_secret));
    this.ids = new Set(Object.values(clients).map((c) => c.client_id));
  }

  /**
   * True when `clientId` is the id of a configured client. Ids are not secrets, but what a client
   * sends as its id may be anything, a secret in the wrong field included: only configured ids are
   * ever logged.
   */
  isClientId(clientId: string): boolean {
    return this.ids.has(clientId);
  }

  /** True when requests need credentials (some client is configured). */
  get required(): boolean {
    return this.digests.length > 0;
  }

  get clientCount(): number {
    return this.digests.length;
  }

  /** True when `credentials` match a configured client, or when none is configured. */
  check(credentials: Credentials | null): boolean {
    if (this.digests.length === 0) return true;
    const candidate = digest(credentials?.clientId ?? '', credentials?.clientSecret ?? '');
    let matched = false;
    for (const known of this.digests) {
      if (timingSafeEqual(candidate, known)) matched = true;
    }
    return matched;
  }
}
