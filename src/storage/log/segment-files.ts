/**
 * The files of a segment: what they are called, what they begin with, and which of them a
 * stream directory holds.
 *
 * A segment is a `.log` file of records and its `.index`, both named by the base offset (the
 * offset of the segment's first record) zero-padded to 20 digits, as in Kafka. `.log` layout: a
 * 32-byte file header (format/file-header.ts; magic "EBLG", version 1) followed by records
 * (format/record.ts) back to back. `.index` layout: format/offset-index.ts.
 */
import path from 'node:path';
import { encodeFileHeader } from '../format/file-header.js';
import { INDEX_ENTRY_BYTES, INDEX_MAGIC, INDEX_VERSION } from '../format/offset-index.js';
import { CURRENT_RECORD_VERSION, type RecordVersion } from '../format/record.js';
import type { FileIO } from '../fs/io.js';

export const LOG_MAGIC = 'EBLG';
/** The versions a `.log` may have: that of its records. */
export const LOG_VERSIONS: readonly RecordVersion[] = [1, 2];

/** Suffix of an index being rebuilt (renamed over the old one when complete). */
export const REBUILD_SUFFIX = '.rebuild';

/** `00000000000000000042.log` for base offset 42. */
export function segmentFileName(baseOffset: number, extension: 'log' | 'index'): string {
  return `${String(baseOffset).padStart(20, '0')}.${extension}`;
}

/** Matches segment file names; group 1 is the base offset, group 2 the extension. */
export const SEGMENT_FILE_PATTERN = /^(\d{20})\.(log|index)$/;

/** Where the files of one segment are. */
export interface SegmentPaths {
  dir: string;
  baseOffset: number;
  log: string;
  index: string;
}

export function segmentPaths(dir: string, baseOffset: number): SegmentPaths {
  return { dir, baseOffset, log: path.join(dir, segmentFileName(baseOffset, 'log')), index: path.join(dir, segmentFileName(baseOffset, 'index')) };
}

/** The header of a new segment's log (the current record version unless told). */
export function encodeLogHeader(baseOffset: number, createdMs: number, version: RecordVersion = CURRENT_RECORD_VERSION): Buffer {
  return encodeFileHeader({ magic: LOG_MAGIC, version, param: 0, baseOffset, createdMs });
}

export function encodeIndexHeader(baseOffset: number, createdMs: number): Buffer {
  return encodeFileHeader({ magic: INDEX_MAGIC, version: INDEX_VERSION, param: INDEX_ENTRY_BYTES, baseOffset, createdMs });
}

/** What a stream directory holds, as {@link listSegments} found it. */
export interface SegmentListing {
  /** Base offsets of the segments (their `.log` files), in order. */
  bases: number[];
  /** Indexes whose log is gone: what a crash during retention leaves. */
  orphanIndexes: string[];
  /** Temporary files of a write a crash cut short. */
  leftovers: string[];
}

/** Lists the segments of stream directory `dir`, changing nothing. */
export function listSegments(io: FileIO, dir: string): SegmentListing {
  const logs = new Set<number>();
  const indexes: number[] = [];
  const leftovers: string[] = [];
  for (const name of io.readdir(dir)) {
    const match = SEGMENT_FILE_PATTERN.exec(name);
    if (match === null) {
      if (name.endsWith('.tmp') || name.endsWith(REBUILD_SUFFIX)) leftovers.push(path.join(dir, name));
      continue;
    }
    if (match[2] === 'log') logs.add(Number(match[1]));
    else indexes.push(Number(match[1]));
  }
  const orphanIndexes = indexes.filter((base) => !logs.has(base)).map((base) => path.join(dir, segmentFileName(base, 'index')));
  return { bases: [...logs].sort((a, b) => a - b), orphanIndexes, leftovers };
}
