/**
 * JetStream publishes with their acknowledgements (PubAcks), over a reply mux (reply-mux.ts)
 * instead of `js.publish`, which makes every write a nats.js request (its cost: reply-mux.ts).
 * Publishes of one loop turn leave in one socket write, in call order, so a lane's order
 * (write-lane.ts) is kept.
 *
 * Answers and failures are the ones `js.publish` gives, so the writer's retries, lanes and
 * conflict checks see no difference: a PubAck (`duplicate` false when absent), a NatsError
 * `503` for no responders (nothing stored), `TIMEOUT` when no answer came within the timeout
 * (outcome unknown), and a JetStream API error as a NatsError with its `api_error` (as
 * nats.js's checkJsErrorCode builds it). Pending writes fail with CONNECTION_CLOSED when the
 * connection closes.
 */
import { ErrorCode, NatsError, type ApiError, type Msg, type MsgHdrs, type NatsConnection, type PubAck } from 'nats';
import { MAX_PENDING, ReplyMux, noResponders } from './reply-mux.js';

export { MAX_PENDING };

/** The part of JetStreamClient the writer uses: a publish that resolves with the PubAck. */
export interface PubAckPublish {
  publish(subject: string, payload: Uint8Array, options: { headers: MsgHdrs; timeout: number }): Promise<PubAck>;
}

interface JsApiResponse {
  error?: { code: number; err_code?: number; description?: string };
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  domain?: string;
}

const decoder = new TextDecoder();

export class PubAckPublisher implements PubAckPublish {
  private readonly mux: ReplyMux<PubAck>;

  constructor(nc: NatsConnection) {
    this.mux = new ReplyMux<PubAck>(nc, decodePubAck, 'writes');
  }

  /** Publishes `payload` to `subject`; resolves with its PubAck, rejects as `js.publish` would. */
  publish(subject: string, payload: Uint8Array, options: { headers: MsgHdrs; timeout: number }): Promise<PubAck> {
    return this.mux.request(subject, payload, options);
  }

  /** Writes awaiting their PubAck (for tests and assertions). */
  get inFlight(): number {
    return this.mux.inFlight;
  }
}

/**
 * A reply to a JetStream publish as `js.publish` returns or throws it: no responders (a status
 * 503 without payload), a JetStream API error, or the PubAck.
 */
export function decodePubAck(msg: Pick<Msg, 'data' | 'headers'>): PubAck | NatsError {
  if (msg.data.length === 0) return noResponders(msg) ?? NatsError.errorForCode(ErrorCode.JetStreamInvalidAck);
  let response: JsApiResponse;
  try {
    response = JSON.parse(decoder.decode(msg.data)) as JsApiResponse;
  } catch (error) {
    return NatsError.errorForCode(ErrorCode.BadJson, error as Error);
  }
  if (response.error !== undefined) {
    const error = apiError(response.error.code, response.error.description ?? '');
    if (error !== null) {
      error.api_error = response.error as ApiError;
      return error;
    }
  }
  if (typeof response.stream !== 'string' || response.stream === '' || typeof response.seq !== 'number') return NatsError.errorForCode(ErrorCode.JetStreamInvalidAck);
  const ack: PubAck = { stream: response.stream, seq: response.seq, duplicate: response.duplicate === true };
  if (response.domain !== undefined) ack.domain = response.domain;
  return ack;
}

/** nats.js's checkJsErrorCode (jetstream/jsutil.js), which it does not export: the same codes and messages. */
function apiError(code: number, description: string): NatsError | null {
  if (code < 300) return null;
  const lower = description.toLowerCase();
  switch (code) {
    case 404:
      return new NatsError(lower, ErrorCode.JetStream404NoMessages);
    case 408:
      return new NatsError(lower, ErrorCode.JetStream408RequestTimeout);
    case 409:
      return new NatsError(lower, lower.startsWith('idle heartbeats missed') ? ErrorCode.JetStreamIdleHeartBeat : ErrorCode.JetStream409);
    case 503:
      return NatsError.errorForCode(ErrorCode.JetStreamNotEnabled, new Error(lower));
    default:
      return new NatsError(lower === '' ? ErrorCode.Unknown : lower, `${code}`);
  }
}
