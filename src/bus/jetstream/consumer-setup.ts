/**
 * A consumer's start and filter (`process_events` `start`, `key`, `types`; issue 13) as a
 * JetStream consumer's config, and back for `get_stream_info`. Both are fixed when the durable is
 * created, as on the engine, and kept by the cluster in the consumer's config, so every gateway
 * shows the same.
 *
 * - start: `all` → deliver all; `new` → deliver from the sequence after the stream's last one, read
 *   from its leader just before the durable is created (what is stored after the creation; a write
 *   racing the creation may be in), its description declaring `"start":"new"`; an offset N →
 *   deliver from sequence N + 1 (offset = sequence − 1; JetStream starts at the oldest stored
 *   when N is older); a time → deliver from that time, by the time the cluster stored each event
 *   (the `created_at` the gateway stamps is a little earlier: see docs/protocol.md), or, for a
 *   time still to come, as `new`. A `new` start is a sequence, not JetStream's deliver policy
 *   new, so where the durable started is exact and recorded in its config: a restore resumes it
 *   there when its first delivery was never acknowledged (consumer-resume.ts), not from its
 *   creation time, which the meta leader's clock stamps while the stream's leader stamps the events.
 * - filter: a key → the key's subject (names.ts), so the consumer sees only that key's events.
 *   Types are headers, and nats-server 2.9 filters by one subject only: a `types` filter is kept
 *   in the durable's description beside the consumer's name (`{"consumer":…,"types":[…]}`; the
 *   plain name otherwise) and applied by the gateway to what it fetches (consumers.ts): events of
 *   other types are acknowledged there, passed over as on the engine.
 * - a restored `new` consumer (restore.ts, consumer-resume.ts) is made again to start after its
 *   ack floor (or its start: see consumer-resume.ts), and its description keeps `"start":"new"`
 *   so `get_stream_info` still shows the start it was created with. Durables made by gateways
 *   before `new` was a sequence have deliver policy new: such a one that comes back from a
 *   snapshot would start at the restored stream's end, skipping what it had not been delivered;
 *   it is remade the same way (by time when its first delivery was never acknowledged).
 */
import { DeliverPolicy, type ConsumerConfig } from 'nats';
import { ErrorCodes, EventBusError, assert } from '../../errors.js';
import type { ConsumerStart, EventFilter } from '../../storage/index.js';
import { eventSubject, jsConsumerName, keyOfSubject } from './names.js';

/**
 * The part of a new durable's config that its start and filter set; `declared` is the start its
 * description is to declare (not part of the JetStream config).
 */
export type SetupConfig = Pick<ConsumerConfig, 'deliver_policy'> & Partial<Pick<ConsumerConfig, 'opt_start_seq' | 'opt_start_time' | 'filter_subject'>> & { declared?: 'new' };

/**
 * The config for a consumer of `jsName` created with `start` and `filter`. `nextOffset` (the
 * stream's last sequence, read just before the creation) is asked for an offset start, which may
 * not be past it (INVALID_FIELD, as on the engine), and for a `new` one, which starts after it. A
 * `types` filter is not part of it (see {@link describeConsumer}).
 */
export async function setupConfig(jsName: string, start: ConsumerStart | undefined, filter: EventFilter | undefined, nextOffset: () => Promise<number>): Promise<SetupConfig> {
  const subject = filter?.key === undefined ? {} : { filter_subject: eventSubject(jsName, filter.key) };
  switch (start?.kind ?? 'all') {
    case 'all':
      return { deliver_policy: DeliverPolicy.All, ...subject };
    case 'new':
      return startNew(await nextOffset(), subject);
    case 'offset': {
      const offset = (start as { offset: number }).offset;
      const next = await nextOffset();
      if (offset > next) {
        throw new EventBusError(ErrorCodes.INVALID_FIELD, `start offset ${offset} is past the stream's next offset (${next})`, {
          context: { field: 'start.offset', expected: `an integer from 0 to ${next}` },
        });
      }
      return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: offset + 1, ...subject };
    }
    case 'time': {
      const timeMs = (start as { timeMs: number }).timeMs;
      // As on the engine, a time still to come starts at the creation (the engine resolves a time
      // to an offset then); JetStream would skip everything stored before it.
      if (timeMs > Date.now()) return startNew(await nextOffset(), subject);
      return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(timeMs).toISOString(), ...subject };
    }
  }
}

/** A `new` start: after the stream's last sequence (`nextOffset`), declared `new`. */
function startNew(nextOffset: number, subject: Pick<SetupConfig, 'filter_subject'>): SetupConfig {
  assert(Number.isSafeInteger(nextOffset) && nextOffset >= 0, `a stream's next offset of ${nextOffset}`);
  return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: nextOffset + 1, ...subject, declared: 'new' };
}

/**
 * The start a durable of this config was created with: `declared` when its description names one
 * (a restored `new` consumer, now starting by sequence), else what its deliver policy says.
 */
export function startOf(config: Partial<ConsumerConfig>, declared?: ConsumerStart): ConsumerStart {
  if (declared !== undefined) return declared;
  switch (config.deliver_policy) {
    case DeliverPolicy.New:
      return { kind: 'new' };
    case DeliverPolicy.StartSequence:
      return { kind: 'offset', offset: Math.max(0, (config.opt_start_seq ?? 1) - 1) };
    case DeliverPolicy.StartTime: {
      const timeMs = Date.parse(config.opt_start_time ?? '');
      return Number.isNaN(timeMs) ? { kind: 'all' } : { kind: 'time', timeMs };
    }
    default:
      return { kind: 'all' };
  }
}

/** The filter a durable of `jsName` with this config (and `types` from its description) has, or null (it takes every event). */
export function filterOf(jsName: string, config: Partial<ConsumerConfig>, types?: readonly string[]): EventFilter | null {
  const key = config.filter_subject === undefined || config.filter_subject === '' ? undefined : keyOfSubject(jsName, config.filter_subject);
  if (key === undefined && types === undefined) return null;
  return { ...(key === undefined ? {} : { key }), ...(types === undefined ? {} : { types }) };
}

/** JetStream's longest description (nats-server's JSMaxDescriptionLen). */
export const MAX_DESCRIPTION_BYTES = 4096;

/**
 * The durable's description: the consumer's name, or with a types filter or a declared start (a
 * restored `new` consumer) those as JSON beside it. Throws NOT_SUPPORTED past JetStream's limit.
 */
export function describeConsumer(name: string, types: readonly string[] | undefined, declared?: 'new'): string {
  if (types === undefined && declared === undefined) return name;
  const description = JSON.stringify({ consumer: name, ...(types === undefined ? {} : { types }), ...(declared === undefined ? {} : { start: declared }) });
  if (Buffer.byteLength(description) > MAX_DESCRIPTION_BYTES) {
    throw new EventBusError(ErrorCodes.NOT_SUPPORTED, `the jetstream backend keeps a consumer's types filter with its name in at most ${MAX_DESCRIPTION_BYTES} bytes of JSON: this one needs ${Buffer.byteLength(description)}`);
  }
  return description;
}

/** What a durable's description says: the consumer's name, its types filter, the start it was declared with. */
export interface DescribedConsumer {
  name: string;
  types?: readonly string[];
  start?: ConsumerStart;
}

/**
 * The consumer's name, types filter and declared start from its durable's description. JSON is
 * taken only when it names the consumer the durable is for (`jsConsumerName`), so a consumer whose
 * own name looks like that JSON is still read as a plain name.
 */
export function consumerOfDescription(durable: string, description: string | undefined): DescribedConsumer {
  if (description === undefined) return { name: durable };
  if (description.startsWith('{"consumer":')) {
    try {
      const { consumer, types, start } = JSON.parse(description) as { consumer?: unknown; types?: unknown; start?: unknown };
      const typesOk = types === undefined || (Array.isArray(types) && types.every((t) => typeof t === 'string'));
      const startOk = start === undefined || start === 'new';
      if (typeof consumer === 'string' && jsConsumerName(consumer) === durable && typesOk && startOk && (types !== undefined || start !== undefined)) {
        return { name: consumer, ...(types === undefined ? {} : { types: types as string[] }), ...(start === undefined ? {} : { start: { kind: 'new' } as const }) };
      }
    } catch {
      // Not ours: a plain name.
    }
  }
  return { name: description };
}

/** Where a restored `new` consumer resumes: after a sequence, or (made before `new` was a sequence, its first delivery never acknowledged) from its creation time. */
export type ResumePoint = { afterSeq: number } | { fromTime: string };

/** True for a durable created with start `new`: deliver policy new (made before `new` was a sequence), or declared so. */
export function isStartNew(config: Partial<ConsumerConfig>): boolean {
  if (config.deliver_policy === DeliverPolicy.New) return true;
  return config.durable_name !== undefined && consumerOfDescription(config.durable_name, config.description).start?.kind === 'new';
}

/**
 * A restored durable created with start new (`config`, as the restored cluster has it), made to
 * deliver from `resume` instead of where the restore put it: the same durable otherwise (filter,
 * ack deadline, limits), its description declaring `new`.
 */
export function resumedConfig(config: ConsumerConfig, resume: ResumePoint): ConsumerConfig {
  assert(isStartNew(config) && config.durable_name !== undefined, 'only a durable created with start new is resumed');
  const { name, types } = consumerOfDescription(config.durable_name, config.description);
  const start = 'afterSeq' in resume ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: resume.afterSeq + 1 } : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: resume.fromTime };
  return { ...config, ...start, description: describeConsumer(name, types, 'new') };
}
