/**
 * A snapshot's `MANIFEST`: a checked file (format/checked-file.ts; magic "EBSM", version 1) whose
 * JSON body names the snapshot, its streams and every file with its size and CRC32C. It is
 * written last, so a directory without it is not a snapshot (see docs/storage-format.md).
 */
import path from 'node:path';
import { decodeChecked, encodeChecked, type CheckedFileKind } from '../format/checked-file.js';
import { readWholeFile, type FileIO } from '../fs/io.js';

const MANIFEST: CheckedFileKind = { name: 'MANIFEST', magic: 'EBSM', version: 1 };
/** The manifest's file name in a snapshot directory. */
export const MANIFEST_FILE = MANIFEST.name;

/** One file of a snapshot, as its manifest lists it. */
export interface ManifestFile {
  path: string;
  size: number;
  crc32c: number;
}

/** The body of a MANIFEST. */
export interface Manifest {
  name: string;
  created_at: string;
  streams: { id: string; name: string; first_offset: number; next_offset: number }[];
  events: number;
  bytes: number;
  files: ManifestFile[];
}

export function encodeManifest(manifest: Manifest): Buffer {
  return encodeChecked(MANIFEST, manifest);
}

/** The manifest of the snapshot in `dir`, or why it cannot be read. */
export function readManifest(io: FileIO, dir: string): Manifest | string {
  const decoded = decodeChecked(readWholeFile(io, path.join(dir, MANIFEST_FILE)), MANIFEST);
  return typeof decoded === 'string' ? decoded : (decoded.body as Manifest);
}
