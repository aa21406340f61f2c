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

/** The most files a manifest may list (a store's streams, each a few files per segment). */
const MAX_MANIFEST_FILES = 10_000_000;

/**
 * The manifest of the snapshot in `dir`, or why it cannot be read. Its CRC only shows it is whole,
 * not that it was written by us, so the listing is checked before anyone follows it: every path
 * relative, normalised and inside the snapshot (a `../` would have restore write, and verify
 * read, outside the directories they were given), every size and CRC a whole number.
 */
export function readManifest(io: FileIO, dir: string): Manifest | string {
  const decoded = decodeChecked(readWholeFile(io, path.join(dir, MANIFEST_FILE)), MANIFEST);
  if (typeof decoded === 'string') return decoded;
  const body = decoded.body as Partial<Manifest> | null;
  if (typeof body !== 'object' || body === null || !Array.isArray(body.files) || !Array.isArray(body.streams)) return 'lists no files or no streams';
  if (body.files.length > MAX_MANIFEST_FILES) return `lists ${body.files.length} files, more than ${MAX_MANIFEST_FILES}`;
  for (const [i, file] of body.files.entries()) {
    const problem = fileProblem(file);
    if (problem !== null) return `file ${i} ${problem}`;
  }
  return body as Manifest;
}

/** Why a manifest's file entry cannot be followed, or null. */
function fileProblem(file: unknown): string | null {
  if (typeof file !== 'object' || file === null) return 'is not an object';
  const { path: name, size, crc32c } = file as Partial<ManifestFile>;
  if (typeof name !== 'string' || name === '' || name.includes('\0')) return 'has no usable path';
  if (path.isAbsolute(name) || name.split(/[\\/]/).some((part) => part === '..' || part === '.' || part === '') || path.normalize(name) !== name) {
    return `path ${JSON.stringify(name)} is not a plain relative path inside the snapshot`;
  }
  if (name === MANIFEST_FILE) return 'names the MANIFEST itself';
  if (!Number.isSafeInteger(size) || size! < 0) return `${JSON.stringify(name)} has no whole-number size`;
  if (!Number.isInteger(crc32c) || crc32c! < 0 || crc32c! > 0xffffffff) return `${JSON.stringify(name)} has no CRC32C`;
  return null;
}
