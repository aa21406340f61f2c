/**
 * NATS and JetStream failures as EventBusErrors. JetStream API errors carry `api_error.err_code`
 * (the server's errors.json); transport failures carry a `code` such as `503` (no responders:
 * nothing stored) or `TIMEOUT` (unknown outcome).
 */
import { ErrorCodes, EventBusError, isEventBusError } from '../../errors.js';

export const JsErrors = {
  streamNotFound: 10059,
  streamNameInUse: 10058,
  consumerNotFound: 10014,
  noMessage: 10037,
  wrongLastSequence: 10071,
  expectedSequenceMismatch: 10077,
  restoreExists: 10130,
  clusterNotAvailable: 10008,
  maxConsumers: 10026,
  noPeers: 10005,
  insufficientResources: 10023,
} as const;

interface NatsLikeError {
  code?: string;
  message?: string;
  api_error?: { code?: number; err_code?: number; description?: string };
}

/** The JetStream `err_code` of `error`, or undefined. */
export function jsErrorCode(error: unknown): number | undefined {
  return (error as NatsLikeError | undefined)?.api_error?.err_code;
}

/** True for failures after which a retry may succeed (no responders, timeouts, a lost connection, an election). */
export function isTransient(error: unknown): boolean {
  const e = error as NatsLikeError | undefined;
  const code = jsErrorCode(error);
  if (code === JsErrors.clusterNotAvailable || code === JsErrors.expectedSequenceMismatch) return true;
  if (code !== undefined) return false;
  return e?.code === '503' || e?.code === 'TIMEOUT' || e?.code === 'DISCONNECT' || e?.code === 'CONNECTION_CLOSED' || e?.code === 'CONNECTION_REFUSED' || e?.code === 'CONNECTION_DRAINING' || /timeout|no responders|disconnect/i.test(e?.message ?? '');
}

/** True for a BACKEND_UNAVAILABLE made by {@link backendError} from a failure a retry may cure. */
export function isTransientBackendError(error: unknown): boolean {
  return isEventBusError(error, ErrorCodes.BACKEND_UNAVAILABLE) && isTransient((error as Error).cause);
}

/** A failure that was not mapped to a more precise code: the cluster did not answer as expected. */
export function backendError(what: string, error: unknown): EventBusError {
  if (isEventBusError(error)) return error;
  const e = error as NatsLikeError | undefined;
  const detail = e?.api_error?.description ?? e?.message ?? String(error);
  if (jsErrorCode(error) === JsErrors.insufficientResources) return new EventBusError(ErrorCodes.DISK_FULL, `${what}: the cluster is out of storage (${detail})`, { cause: error });
  return new EventBusError(ErrorCodes.BACKEND_UNAVAILABLE, `${what}: the JetStream cluster did not answer (${detail})`, { cause: error });
}

/** The sequence a `wrong last sequence: N` error names, or undefined. */
export function actualLastSequence(error: unknown): number | undefined {
  const match = /wrong last sequence: (\d+)/.exec((error as NatsLikeError | undefined)?.api_error?.description ?? (error as Error | undefined)?.message ?? '');
  return match === null ? undefined : Number(match[1]);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
