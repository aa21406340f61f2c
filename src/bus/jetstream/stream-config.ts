/**
 * The JetStream stream behind an eventbus stream: its configuration (the same from every gateway,
 * so adding it twice is not an error), and the repair of a create that stopped half way.
 *
 * `create_stream` writes the catalog entry first, then adds the JetStream stream. A gateway
 * killed between the two leaves a name in the catalog without its stream; nothing else does
 * (`delete_stream` removes the catalog entry first). So a catalog entry whose stream JetStream
 * does not know is completed on first use: any operation that meets "stream not found" for a
 * stream the catalog still names adds it (empty, as the create would have) and goes on.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type StreamConfig } from 'nats';
import { ErrorCodes, EventBusError, OriginalReasons } from '../../errors.js';
import type { Catalog, CatalogEntry } from './catalog.js';
import type { ResolvedJetStreamOptions } from './jetstream-options.js';
import { jsStreamName } from './names.js';
import { JsErrors, backendError, isTransient, jsErrorCode } from './nats-errors.js';
import type { RetryPauses } from './retry-pauses.js';

/** Room for our headers above the largest event body. */
const HEADER_ROOM_BYTES = 8 * 1024;

export function streamConfig(name: string, streamNumber: number, options: ResolvedJetStreamOptions): Partial<StreamConfig> & { name: string } {
  const jsName = jsStreamName(streamNumber);
  return {
    name: jsName,
    description: `eventbus stream '${name}'`,
    subjects: [`${jsName}.>`],
    num_replicas: options.replicas,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(options.duplicateWindowMs),
    allow_direct: true,
    max_msg_size: options.maxEventBytes + HEADER_ROOM_BYTES,
  };
}

/**
 * Adds the stream of `entry` if JetStream does not have it (see the module comment). Resolves
 * true when it was added (or already there), false when the cluster did not answer; never throws.
 */
export async function repairStream(jsm: JetStreamManager, entry: CatalogEntry, options: ResolvedJetStreamOptions): Promise<boolean> {
  try {
    await jsm.streams.add(streamConfig(entry.name, entry.number, options));
    return true;
  } catch (error) {
    // Another gateway's options differ (10058): the stream is there, with its config.
    return jsErrorCode(error) === JsErrors.streamNameInUse;
  }
}

/** What {@link retryOnStream} needs from its caller. */
export interface StreamCall {
  catalog: Catalog;
  repair(entry: CatalogEntry): Promise<boolean>;
  /** Transient failures are retried until then. */
  deadlineMs: number;
  pauseMs: number;
  /** Where the pauses are taken: shutdown ends them (retry-pauses.ts). */
  pauses: RetryPauses;
  /** For the error: `writing to stream 'orders'`. */
  doing: string;
}

/**
 * Runs an API call on the stream of `entry`, retrying transient failures until the deadline. A
 * stream JetStream does not know is repaired once (a create cut short), then STREAM_NOT_FOUND.
 * Not retried once the gateway is shutting down (retry-pauses.ts).
 */
export async function retryOnStream<T>(entry: CatalogEntry, how: StreamCall, call: () => Promise<T>): Promise<T> {
  let repaired = false;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (jsErrorCode(error) === JsErrors.streamNotFound) {
        if (!repaired && (await how.repair(entry))) {
          repaired = true;
          continue;
        }
        how.catalog.forget(entry.name);
        throw new EventBusError(ErrorCodes.STREAM_NOT_FOUND, OriginalReasons.streamNotFound(entry.name));
      }
      if (!isTransient(error) || Date.now() >= how.deadlineMs) throw backendError(how.doing, error);
      if (!(await how.pauses.pause(how.pauseMs))) throw backendError(`${how.doing}; not retried: the gateway is shutting down`, error);
    }
  }
}
