/**
 * What recovery repairs, told by the code that repairs it, so that an embedder's observer
 * (observer.ts) learns what a crash left without reading logs. Recovery calls
 * `ctx.recovery?.note(kind, amount)` where it acts; the engine sets `recovery` only while it opens
 * a store, so the hooks cost nothing at any other time.
 */

/** The repairs recovery counts, per stream. */
export type RecoveryNoteKind =
  /** Bytes of torn records cut off the end of an active segment. */
  | 'tornBytesCut'
  /** Segments removed because a roll torn by a power loss left them after a short segment. */
  | 'segmentsDropped'
  /** Indexes rebuilt from their log (missing, or failing their checks). */
  | 'indexesRebuilt'
  /** Index entries written from the log for records the active index did not hold yet. */
  | 'indexEntriesAdded'
  /** Segment headers torn while the file was being created, rewritten. */
  | 'headersRewritten'
  /** Temporary files and indexes without a log, removed. */
  | 'leftoversRemoved'
  /** Bytes of torn records cut off the end of the consumer journal. */
  | 'journalTornBytesCut';

/** Receives recovery's notes (the engine's tally while it opens a store). */
export interface RecoveryNotes {
  note(kind: RecoveryNoteKind, amount?: number): void;
}
