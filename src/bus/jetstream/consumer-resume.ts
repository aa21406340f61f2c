/**
 * Consumers across a snapshot and restore: where each consumer was when `snapshot_db` took its
 * stream (recorded in MANIFEST.json), and, after `eventbus restore`, each consumer created with
 * start `new` made to resume there.
 *
 * Why: nats-server (2.9) starts a durable of deliver policy new that it restores at the restored
 * stream's end (it keeps a stored position only when it is further on), so every event the
 * consumer had not been delivered at the snapshot was skipped; and the restored durable's own
 * figures (ack floor, delivered) are not those of the snapshot. A durable created with start `new`
 * is deleted and made again, the same otherwise (consumer-setup.ts, resumedConfig), to start where
 * the recorded position says ({@link resumePoint}): after its ack floor, by sequence. JetStream
 * reports no floor (0) until the consumer's first delivery is acknowledged, also not the start
 * less one (nats-server 2.9.10, single node and R3: ack floor 0/0 right after the creation on a
 * stream of 5 events, and after an unacknowledged delivery): then it starts at its start (what
 * it was delivered is all unacknowledged), which its config has as a sequence (consumer-setup.ts:
 * `new` starts after the stream's last sequence at its creation). A durable made before `new` was
 * a sequence (deliver policy new) starts then by sequence when it was delivered nothing (its
 * cursor is its start), else from its creation time: the meta leader's clock against the times
 * the stream's leader stamped, so a skew between them can skip or repeat events there. What it
 * had delivered and not acknowledged comes again at once, and so does what it had acknowledged
 * above its floor (out of order): at least once. Durables of the other starts (all, an offset, a
 * past time) start where they were and are left as restored.
 */
import { DeliverPolicy, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from 'nats';
import { isStartNew, resumedConfig, type ResumePoint } from './consumer-setup.js';
import { JsErrors, isTransient, jsErrorCode, sleep } from './nats-errors.js';

/** One consumer's position at a snapshot, as MANIFEST.json records it (JetStream's figures). */
export interface ConsumerPosition {
  /** The durable's name (`C_…`, names.ts). */
  durable: string;
  deliver_policy: string;
  /** When the durable was created (ISO 8601, the cluster's clock). */
  created: string;
  /** Every event up to `stream_seq` was acknowledged; `consumer_seq` 0: no floor yet (see resumePoint). */
  ack_floor: { stream_seq: number; consumer_seq: number };
  /** The last delivery: its stream sequence, and the count of deliveries (`consumer_seq`). */
  delivered: { stream_seq: number; consumer_seq: number };
}

/**
 * Where a `new` consumer at `position` resumes: after its ack floor; with no floor yet, at its
 * start (`start`, from its config; everything it was delivered is unacknowledged). A durable of
 * deliver policy new (no `start`) with no floor: after its cursor when it was delivered nothing
 * (the stream's end at its creation), else from its creation time.
 */
export function resumePoint(position: ConsumerPosition, start?: ResumePoint): ResumePoint {
  if (position.ack_floor.consumer_seq > 0) return { afterSeq: position.ack_floor.stream_seq };
  if (start !== undefined) return start;
  if (position.delivered.consumer_seq === 0) return { afterSeq: position.delivered.stream_seq };
  return { fromTime: position.created };
}

/**
 * Where a durable of this config starts, exactly, or undefined for deliver policy new: a `new`
 * durable's sequence (consumer-setup.ts), or the start a restore gave it (by time only when made
 * from a creation time).
 */
export function configuredStart(config: Pick<ConsumerConfig, 'deliver_policy' | 'opt_start_seq' | 'opt_start_time'>): ResumePoint | undefined {
  if (config.deliver_policy === DeliverPolicy.StartSequence && config.opt_start_seq !== undefined) return { afterSeq: Math.max(0, config.opt_start_seq - 1) };
  if (config.deliver_policy === DeliverPolicy.StartTime && config.opt_start_time !== undefined) return { fromTime: config.opt_start_time };
  return undefined;
}

/** True when `value` has the shape a snapshot writes (a MANIFEST.json is read from disk). */
export function isConsumerPosition(value: unknown): value is ConsumerPosition {
  const v = value as ConsumerPosition | null;
  const seqs = (p: unknown) => typeof p === 'object' && p !== null && [(p as ConsumerPosition['ack_floor']).stream_seq, (p as ConsumerPosition['ack_floor']).consumer_seq].every((n) => Number.isSafeInteger(n) && n >= 0);
  return typeof v === 'object' && v !== null && typeof v.durable === 'string' && typeof v.deliver_policy === 'string' && typeof v.created === 'string' && seqs(v.ack_floor) && seqs(v.delivered);
}

function positionOf(info: ConsumerInfo): ConsumerPosition {
  const pair = (p: { stream_seq: number; consumer_seq: number }) => ({ stream_seq: p.stream_seq, consumer_seq: p.consumer_seq });
  return { durable: info.name, deliver_policy: info.config.deliver_policy, created: info.created, ack_floor: pair(info.ack_floor), delivered: pair(info.delivered) };
}

/** Pause between looks at a restored stream's consumers. */
const POLL_MS = 200;

/** The eventbus durables of a stream (JetStream's other consumers, such as ephemeral readers, left out). */
async function durablesOf(jsm: JetStreamManager, jsName: string): Promise<ConsumerInfo[]> {
  const infos: ConsumerInfo[] = [];
  for await (const info of jsm.consumers.list(jsName)) {
    if (info.config.durable_name !== undefined && info.name.startsWith('C_')) infos.push(info);
  }
  return infos;
}

/**
 * The positions of `jsName`'s consumers, read before its snapshot is taken (`snapshot`), so a
 * recorded floor is never past the snapshot's. Consumers deleted meanwhile are left out: a restore
 * would wait for them in vain.
 */
export async function consumerPositions(jsm: JetStreamManager, jsName: string, snapshot: () => Promise<void>): Promise<ConsumerPosition[]> {
  const before = await durablesOf(jsm, jsName);
  await snapshot();
  const after = new Set((await durablesOf(jsm, jsName)).map((info) => info.name));
  return before.filter((info) => after.has(info.name)).map(positionOf);
}

/**
 * Remakes the restored durables of `jsName` created with start `new`, to resume where
 * `recorded` says (one not recorded, made while its stream's snapshot was taken or in a snapshot
 * from before positions were recorded: from its start, or its creation time for a durable of
 * deliver policy new). Waits (until `deadlineMs`) for
 * every recorded consumer to show in the restored stream; throws when one does not, or when one
 * cannot be remade by then. Returns how many were remade.
 */
export async function resumeRestoredConsumers(jsm: JetStreamManager, jsName: string, recorded: readonly ConsumerPosition[], deadlineMs: number): Promise<number> {
  const infos = await restoredDurables(jsm, jsName, recorded, deadlineMs);
  const positions = new Map(recorded.map((position) => [position.durable, position]));
  let remade = 0;
  for (const info of infos) {
    if (!isStartNew(info.config)) continue;
    const position = positions.get(info.name);
    const start = configuredStart(info.config);
    await remake(jsm, jsName, info, position === undefined ? start ?? { fromTime: info.created } : resumePoint(position, start), deadlineMs);
    remade++;
  }
  return remade;
}

/** The stream's durables once every recorded one is listed (a restored consumer shows once it has a leader). */
async function restoredDurables(jsm: JetStreamManager, jsName: string, recorded: readonly ConsumerPosition[], deadlineMs: number): Promise<ConsumerInfo[]> {
  for (;;) {
    const infos = await durablesOf(jsm, jsName).catch(() => null);
    const listed = new Set((infos ?? []).map((info) => info.name));
    const missing = recorded.filter((position) => !listed.has(position.durable)).map((position) => position.durable);
    if (infos !== null && missing.length === 0) return infos;
    if (Date.now() > deadlineMs) {
      throw new Error(`the consumers of ${jsName} did not all come back (${infos === null ? 'they could not be listed' : `missing: ${missing.join(', ')}`})`);
    }
    await sleep(POLL_MS);
  }
}

/** Deletes the durable and adds it again from `resume`; a transient failure (an election) is tried again until the deadline. */
async function remake(jsm: JetStreamManager, jsName: string, info: ConsumerInfo, resume: ResumePoint, deadlineMs: number): Promise<void> {
  const config = resumedConfig(info.config, resume);
  for (;;) {
    try {
      await jsm.consumers.delete(jsName, info.name).catch((error: unknown) => {
        if (jsErrorCode(error) !== JsErrors.consumerNotFound) throw error; // deleted by an earlier try
      });
      await jsm.consumers.add(jsName, config);
      return;
    } catch (error) {
      if (!isTransient(error) || Date.now() > deadlineMs) throw new Error(`consumer ${info.name} of ${jsName} could not be made to resume (${JSON.stringify(resume)}): ${(error as Error).message}`);
      await sleep(POLL_MS);
    }
  }
}
