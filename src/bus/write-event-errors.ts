/**
 * A `write_event` is an append of one event, but its request has no `events` array: its fields are
 * `event`, `type`, `msg_id`, `metadata`. An append's refusals name the batch's fields
 * (`events[0].msg_id`, `events[0]`), so they are renamed here for `write_event`'s replies, where
 * `context.field` must name a field the request has.
 */
import { ErrorCodes, EventBusError, isEventBusError } from '../errors.js';

const FIRST_EVENT = 'events[0]';

/**
 * `error` with `context.field` as `write_event` names it: `events[0]` and `events` become
 * `event`, `events[0].type` becomes `type` (the reason's mention too). An EVENT_TOO_LARGE without
 * a field (the engine's plain append has no field names) gets `field: "event"`. Anything else is
 * returned as it is.
 */
export function asWriteEventError(error: unknown): unknown {
  if (!isEventBusError(error)) return error;
  const context = isRecord(error.context) ? error.context : null;
  const field = context?.field;
  if (field === undefined && error.code === ErrorCodes.EVENT_TOO_LARGE) {
    return new EventBusError(error.code, error.reason, { context: { field: 'event', ...context }, cause: error });
  }
  if (typeof field !== 'string') return error;
  let renamed: string;
  let reason = error.reason;
  if (field === FIRST_EVENT || field === 'events') {
    renamed = 'event';
    reason = reason.replace(/^event 0 is /, 'event is ');
  } else if (field.startsWith(`${FIRST_EVENT}.`)) {
    renamed = field.slice(FIRST_EVENT.length + 1);
    reason = reason.split(field).join(renamed);
  } else {
    return error;
  }
  return new EventBusError(error.code, reason, { context: { ...context, field: renamed }, cause: error });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
