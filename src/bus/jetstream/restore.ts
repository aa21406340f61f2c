/**
 * `eventbus restore <snapshot> --nats-servers ...`: a snapshot taken by `snapshot_db` on the
 * jetstream backend back into a cluster. The catalog bucket first, then every stream with its
 * consumers, each under its own JetStream name, so event ids stay valid. Refuses, restoring
 * nothing, when any of those streams already exists in the cluster (JetStream never restores over
 * a stream: 10130): restore into a cluster that holds no eventbus data. A restore that fails half
 * way removes the streams it restored, so it can be retried. Returns once the catalog
 * and every restored stream show their restored messages (or after 30 s), and the consumers
 * created with start `new` are made to resume after their ack floor (consumer-resume.ts).
 * Connects with the gateway's credentials and TLS options (nats-access.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { connect, type JetStreamManager } from 'nats';
import { ErrorCodes, EventBusError } from '../../errors.js';
import { resolveJetStreamOptions, type JetStreamOptions } from './jetstream-options.js';
import { JsErrors, jsErrorCode, sleep } from './nats-errors.js';
import { connectFailure, natsAccessOptions } from './nats-access.js';
import { restoreStream } from './stream-snapshot.js';
import { isConsumerPosition, resumeRestoredConsumers, type ConsumerPosition } from './consumer-resume.js';

interface Manifest {
  backend: string;
  catalog: string;
  /** Messages in the catalog's snapshot (absent in snapshots taken before it was recorded). */
  catalog_messages?: number;
  /** `consumers`: each consumer's position at the snapshot (absent in snapshots taken before they were recorded). */
  streams: { name: string; js_name: string; messages: number; consumers?: ConsumerPosition[] }[];
}

/** True when `dir` holds a snapshot of the jetstream backend. */
export function isJetStreamSnapshot(dir: string): boolean {
  const file = path.join(dir, 'MANIFEST.json');
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as Manifest).backend === 'jetstream';
  } catch {
    return false;
  }
}

/** How long a restore waits, at most, for the restored streams to show what was restored. */
const SERVED_TIMEOUT_MS = 30_000;

const failed = (reason: string, cause?: unknown) => new EventBusError(ErrorCodes.SNAPSHOT_FAILED, `restore failed: ${reason}`, cause === undefined ? {} : { cause });

/** Restores the snapshot in `dir` into the cluster; returns the counts restored. */
export async function restoreJetStreamSnapshot(dir: string, options: JetStreamOptions): Promise<{ streams: number; events: number }> {
  const resolved = resolveJetStreamOptions(options);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(path.join(dir, 'MANIFEST.json'), 'utf8')) as Manifest;
  } catch (error) {
    throw failed(`${dir} has no readable MANIFEST.json`, error);
  }
  const names = [manifest.catalog, ...(Array.isArray(manifest.streams) ? manifest.streams : []).map((s) => s?.js_name)];
  // Names become file names here and stream names in the cluster: only the forms a snapshot
  // writes (KV_<bucket>, EB_<8 hex>), never a path that leaves the snapshot.
  for (const name of names) if (typeof name !== 'string' || !/^(KV_[A-Za-z0-9_-]{1,64}|EB_[0-9a-f]{8})$/.test(name)) throw failed(`${dir}'s MANIFEST.json names a stream ${JSON.stringify(name)} no snapshot writes`);
  for (const name of names) if (!existsSync(path.join(dir, `${name}.snap`))) throw failed(`${name}.snap is missing from ${dir}`);
  for (const stream of Array.isArray(manifest.streams) ? manifest.streams : []) {
    const consumers: unknown = stream.consumers;
    if (consumers !== undefined && !(Array.isArray(consumers) && consumers.every(isConsumerPosition))) throw failed(`${dir}'s MANIFEST.json has consumer positions for ${stream.js_name} no snapshot writes`);
  }
  // The gateway's credentials and TLS rule (nats-access.ts): a tls:// server, a CA or a client
  // certificate requires TLS here too.
  const nc = await connect({ servers: resolved.servers, name: 'eventbus-restore', timeout: resolved.requestTimeoutMs, ...natsAccessOptions(resolved) }).catch((error: unknown) => {
    throw new EventBusError(ErrorCodes.BACKEND_UNAVAILABLE, `cannot connect to NATS at ${resolved.servers.join(',')}: ${connectFailure(error)}`, { cause: error });
  });
  try {
    const jsm = await nc.jetstreamManager({ timeout: resolved.requestTimeoutMs });
    for (const name of names) {
      try {
        await jsm.streams.info(name);
        throw failed(`the cluster already has stream ${name}: restore needs a cluster without eventbus data (nothing was restored)`);
      } catch (error) {
        if (jsErrorCode(error) !== JsErrors.streamNotFound) throw error;
      }
    }
    const restored: string[] = [];
    for (const name of names) {
      try {
        await restoreStream(nc, path.join(dir, `${name}.snap`), 60_000);
        restored.push(name);
      } catch (error) {
        // None of them existed before (checked above): what this restore made goes, the failed
        // stream too (JetStream may have created it before refusing), so a retry is not refused.
        const left = await removeStreams(jsm, [...restored, name]);
        const cleanup = left.length === 0 ? 'nothing was restored' : `streams ${left.join(', ')} could not be removed: delete them before a retry`;
        throw failed(`stream ${name}: ${(error as Error).message} (${cleanup})`, error);
      }
    }
    const catalog = { js_name: manifest.catalog, messages: manifest.catalog_messages ?? 0 };
    await waitUntilServed(jsm, [catalog, ...manifest.streams], Date.now() + SERVED_TIMEOUT_MS);
    try {
      const deadlineMs = Date.now() + SERVED_TIMEOUT_MS;
      for (const stream of manifest.streams) await resumeRestoredConsumers(jsm, stream.js_name, stream.consumers ?? [], deadlineMs);
    } catch (error) {
      // Consumers that would skip events are not left behind: the restore is undone, as above.
      const left = await removeStreams(jsm, restored);
      const cleanup = left.length === 0 ? 'nothing was restored' : `streams ${left.join(', ')} could not be removed: delete them before a retry`;
      throw failed(`${(error as Error).message} (${cleanup})`, error);
    }
    return { streams: manifest.streams.length, events: manifest.streams.reduce((sum, s) => sum + s.messages, 0) };
  } finally {
    await nc.close();
  }
}

/** Deletes `names` (those already gone count as removed); the names it could not delete. */
async function removeStreams(jsm: JetStreamManager, names: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (const name of names) {
    try {
      await jsm.streams.delete(name);
    } catch (error) {
      if (jsErrorCode(error) !== JsErrors.streamNotFound) left.push(name);
    }
  }
  return left;
}

/**
 * Waits (up to the deadline) until the info of every restored stream, the catalog's first, shows
 * its restored messages: right after a restore its leader may still be elected, or answer from a state
 * without them, and a read then sees an empty stream (seen once in CI). Past the deadline it goes
 * on: the restore itself succeeded.
 */
async function waitUntilServed(jsm: JetStreamManager, streams: readonly { js_name: string; messages: number }[], deadlineMs: number): Promise<void> {
  for (const stream of streams) {
    for (;;) {
      const info = await jsm.streams.info(stream.js_name).catch(() => null);
      if ((info !== null && info.state.messages >= stream.messages) || Date.now() > deadlineMs) break;
      await sleep(100);
    }
  }
}
