/**
 * The engine names the arguments of its calls in a refusal's `context.field` (`name`,
 * `beforeOffset`: docs/embedding.md, "Errors"); a reply on the wire names the request's field
 * (`stream_name`, `before_offset`: docs/protocol.md). The few refusals the engine makes of a
 * value the protocol layer passes on unchecked are renamed here, field and reason alike, so that
 * the wire's replies read as they always have.
 */
import { ErrorCodes, EventBusError, isEventBusError } from '../errors.js';

/**
 * `error` with `context.field` `from` renamed `to` (and, with `inReason`, `from` in its reason),
 * if it is an INVALID_FIELD or INVALID_STREAM_NAME naming `from`; anything else as it is.
 */
export function withWireField(error: unknown, from: string, to: string, inReason: boolean): unknown {
  if (!isEventBusError(error) || (error.code !== ErrorCodes.INVALID_FIELD && error.code !== ErrorCodes.INVALID_STREAM_NAME)) return error;
  const context = error.context as Record<string, unknown> | null | undefined;
  if (typeof context !== 'object' || context === null || context.field !== from) return error;
  return new EventBusError(error.code, inReason ? error.reason.split(from).join(to) : error.reason, { context: { ...context, field: to }, cause: error });
}
