/**
 * Event payloads: JSON objects of an exact size, the same bytes for every system (eventbus's
 * `event`, Redis's one stream field, a NATS message body).
 */

/** `{"seq":0,"pad":"xxx…"}` padded to exactly `sizeBytes` bytes (at least 20). */
export function payload(sizeBytes: number): string {
  const head = '{"seq":0,"pad":"';
  return `${head}${'x'.repeat(Math.max(0, sizeBytes - head.length - 2))}"}`;
}

/**
 * `{"t":<send time>,"pad":"xxx…"}` of about `sizeBytes` bytes: `t` is performance.now() in the
 * load generator when the write was sent, so a consumer in the same process computes
 * write-to-delivery latency with one clock.
 */
export function timedPayload(sizeBytes: number, sentAtMs: number): string {
  const head = `{"t":${sentAtMs.toFixed(3)},"pad":"`;
  return `${head}${'x'.repeat(Math.max(0, sizeBytes - head.length - 2))}"}`;
}

/** The send time out of a payload made by `timedPayload`. */
export function sentAt(json: string): number {
  return (JSON.parse(json) as { t: number }).t;
}
