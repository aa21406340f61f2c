/**
 * Rebuilding a stream's consumers from their journal at open: the records are applied in order
 * with the same `apply*` methods that made the changes (consumer.ts), so the in-memory state and
 * the durable state cannot drift apart. Then what the journal cannot know is settled: a cursor
 * past the end of a stream that lost unsynced events moves back, what retention removed is
 * forgotten, and no delivery lease survives the restart.
 */
import { assert } from '../../errors.js';
import type { Logger } from '../logger.js';
import { Consumer } from './consumer.js';
import { RecordTypes, type JournalDamage, type JournalRecord } from './journal-codec.js';
import { decodeSetupSpec, type ConsumerSetup } from './consumer-setup.js';

/** The consumers a journal describes. */
export interface ReplayedConsumers {
  byId: Map<number, Consumer>;
  /** The id the next new consumer gets. */
  nextId: number;
  /** Records that name a consumer the journal never created (its CONSUMER record was damaged). */
  damage: JournalDamage[];
  /** Where consumers created with a `start` started (consumer-setup.ts), by id. */
  setups: Map<number, ConsumerSetup>;
}

/** Applies the records of journal `file` in order. */
export function replayJournal(records: readonly JournalRecord[], file: string): ReplayedConsumers {
  const byId = new Map<number, Consumer>();
  const damage: JournalDamage[] = [];
  const setups = new Map<number, ConsumerSetup>();
  let nextId = 1;
  for (const record of records) {
    if (record.type === RecordTypes.CONSUMER || record.type === RecordTypes.STATE) {
      const consumer = new Consumer(record.id, record.name, record.createdMs, record.type === RecordTypes.STATE ? record.cursor : 0);
      if (record.type === RecordTypes.STATE) {
        consumer.deadLettered = record.deadLettered;
        for (const [offset, entry] of record.entries) consumer.restoreEntry(offset, entry);
      }
      byId.set(consumer.id, consumer);
      nextId = Math.max(nextId, consumer.id + 1);
      continue;
    }
    const consumer = byId.get(record.id);
    if (consumer === undefined) {
      damage.push({ file, position: -1, reason: `record for unknown consumer ${record.id} skipped` });
      continue;
    }
    if (record.type === RecordTypes.SETUP) {
      const setup = decodeSetupSpec(record.spec, record.startOffset);
      if (setup === null) damage.push({ file, position: -1, reason: `setup of consumer ${record.id} not understood; it starts at ${record.startOffset}` });
      setups.set(record.id, setup ?? { start: { kind: 'offset', offset: record.startOffset }, startOffset: record.startOffset });
      if (consumer.cursor < record.startOffset) consumer.cursor = record.startOffset;
    } else if (record.type === RecordTypes.DELIVER) consumer.applyDeliver(record.from, record.count, record.deadlineMs, record.autoAck);
    else if (record.type === RecordTypes.REDELIVER) consumer.applyRedeliver(record.offsets, record.deadlineMs, record.autoAck);
    else if (record.type === RecordTypes.MARK) consumer.applyMark(record.offsets, record.status);
    else consumer.applyDeadLetter(record.offsets);
  }
  return { byId, nextId, damage, setups };
}

/**
 * Settles replayed consumers against their stream as it was recovered: offsets
 * [`firstOffset`, `nextOffset`) are stored.
 */
export function settleAfterOpen(consumers: Iterable<Consumer>, firstOffset: number, nextOffset: number, streamName: string, logger: Logger): void {
  for (const consumer of consumers) {
    if (consumer.cursor > nextOffset) {
      // Only possible when the log lost unsynced events (fsync policy interval or never).
      logger.warn({ stream: streamName, consumer: consumer.name, cursor: consumer.cursor, next_offset: nextOffset }, 'consumer cursor was past the end of its stream; moved back');
      consumer.cutTo(nextOffset);
    }
    consumer.clampTo(firstOffset);
    consumer.expireLeases();
    assert(consumer.cursor <= nextOffset, 'a consumer cursor is past the end of its stream');
  }
}
