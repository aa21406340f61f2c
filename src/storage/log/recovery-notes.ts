/**
 * What recovery repairs, told by the code that repairs it, so that an embedder's observer
 * (observer.ts) learns what a crash left without reading logs. Recovery calls
 * `ctx.recovery?.note(kind, amount)` where it acts; the engine sets `recovery` only while it opens
 * a store, so the hooks cost nothing at any other time.
 */

/** The repairs recovery counts, per stream (and summed over a store: observer.ts). */
export interface RecoveryCounts {
  /** Bytes of torn records cut off the end of the active segment (never acknowledged under `always`). */
  tornBytesCut: number;
  /** Segments removed after a segment roll torn by a power loss. */
  segmentsDropped: number;
  /** Offset indexes rebuilt from their log (missing or failing their checks). */
  indexesRebuilt: number;
  /** Index entries written from the log for records the active index did not hold yet (normal after a crash). */
  indexEntriesAdded: number;
  /** Segment headers torn while being created, rewritten (the segment held no record). */
  headersRewritten: number;
  /** Temporary files and indexes without a log, removed. */
  leftoversRemoved: number;
  /** Bytes of torn records cut off the end of the consumer journal. */
  journalTornBytesCut: number;
}

/** One kind of repair. */
export type RecoveryNoteKind = keyof RecoveryCounts;

/** Counts of no repair, in the order reports list them. */
export function noRepairs(): RecoveryCounts {
  return { tornBytesCut: 0, segmentsDropped: 0, indexesRebuilt: 0, indexEntriesAdded: 0, headersRewritten: 0, leftoversRemoved: 0, journalTornBytesCut: 0 };
}

/** Receives recovery's notes (the engine's tally while it opens a store). */
export interface RecoveryNotes {
  note(kind: RecoveryNoteKind, amount?: number): void;
}
