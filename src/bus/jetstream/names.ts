/**
 * How eventbus names map onto NATS JetStream names (research: /work/notes/jetstream.md §2, §8).
 * JetStream stream and consumer names become directory names and may not hold `.`, `*`, `>`,
 * `/`, `\` or whitespace, while eventbus names are any UTF-8; so:
 *
 * - stream: `EB_<8 hex digits of the stream's catalog number>` (the number event ids carry, so an
 *   id finds its JetStream stream with no lookup); the eventbus name stays in the catalog and in
 *   the stream's description;
 * - subjects: `<stream>.n` for events without a key, `<stream>.k.K<base64url(key)>` with one
 *   (the `K` keeps the empty key a non-empty token); a dead-letter record, which has no key, is
 *   on `<stream>.d.D<base64url(consumer)>`, so each consumer's dead letters can be counted;
 * - consumer: `C_<base64url(name)>`, or `C_<sha256 hex>` when that is longer than 255 characters;
 * - catalog keys (KV): `n.<base64url(name)>` → the stream's entry, `num.<hex8>` → its name.
 */
import { createHash } from 'node:crypto';

/** The KV bucket holding the catalog (its stream is `KV_eventbus_catalog`). */
export const CATALOG_BUCKET = 'eventbus_catalog';
/** Headers of our fields on every stored message. */
export const Headers = {
  key: 'Eb-Key',
  version: 'Eb-Version',
  previous: 'Eb-Prev',
  type: 'Eb-Type',
  metadata: 'Eb-Meta',
  timeMs: 'Eb-Time',
  msgId: 'Nats-Msg-Id',
} as const;
/** Client msg_ids and the gateway's own ids never collide in the duplicate window. */
export const CLIENT_MSG_ID_PREFIX = 'c:';
export const GATEWAY_MSG_ID_PREFIX = 'g:';

const b64url = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

export function jsStreamName(streamNumber: number): string {
  return `EB_${streamNumber.toString(16).padStart(8, '0')}`;
}

export function eventSubject(jsName: string, key: string | undefined): string {
  return key === undefined ? `${jsName}.n` : `${jsName}.k.K${b64url(key)}`;
}

/** The subject of `consumer`'s dead-letter records in the dead-letter stream `jsName`: not a key's subject (they have none). */
export function deadLetterSubject(jsName: string, consumer: string): string {
  return `${jsName}.d.D${b64url(consumer)}`;
}

/** The consumer whose dead letters `subject` (of dead-letter stream `jsName`) holds; undefined if it is not such a subject. */
export function consumerOfDeadLetterSubject(jsName: string, subject: string): string | undefined {
  const prefix = `${jsName}.d.D`;
  return subject.startsWith(prefix) ? Buffer.from(subject.slice(prefix.length), 'base64url').toString('utf8') : undefined;
}

/** The key whose events `subject` (of stream `jsName`) holds; undefined if it is not a key's subject. */
export function keyOfSubject(jsName: string, subject: string): string | undefined {
  const prefix = `${jsName}.k.K`;
  return subject.startsWith(prefix) ? Buffer.from(subject.slice(prefix.length), 'base64url').toString('utf8') : undefined;
}

export function jsConsumerName(name: string): string {
  const encoded = `C_${b64url(name)}`;
  return encoded.length <= 255 ? encoded : `C_${createHash('sha256').update(name, 'utf8').digest('hex')}`;
}

export function catalogNameKey(name: string): string {
  return `n.${b64url(name)}`;
}

export function nameOfCatalogKey(key: string): string {
  return Buffer.from(key.slice(2), 'base64url').toString('utf8');
}

export function catalogNumberKey(streamNumber: number): string {
  return `num.${streamNumber.toString(16).padStart(8, '0')}`;
}
