/**
 * CRC32C in the single executable: esbuild puts this module in place of fast-crc32c
 * (sea-build.ts), so crc.ts is unchanged.
 *
 * The sse4_crc32 addon (about 20× faster than JavaScript: 0.9 ms against 20 ms for 8 MiB) is
 * embedded as the asset `crc32c.node`. A shared object can only be loaded from a file, so it is
 * written into a new private directory (mkdtemp: 0700; the file 0600, created exclusively),
 * loaded with process.dlopen, self-tested, and the file and directory are removed at once (the
 * mapping outlives them). Where that fails (no asset, a temporary directory mounted noexec,
 * another CPU) fast-crc32c's JavaScript table is used, and {@link seaCrc32c} says why: the
 * start-up log and `eventbus --version` print it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getAsset, isSea } from 'node:sea';
// Mapped by sea-build.ts to fast-crc32c/impls/js_crc32c.js (its JavaScript table).
import javascript from 'eventbus-sea-js-crc32c';
import { CRC32C_ASSET, type CrcImplementation } from './resources.js';

type Calculate = (input: Buffer | string, initial?: number) => number;

/** CRC32C of the ASCII text, as in fast-crc32c's own self-test. */
const SELF_TEST = { text: 'The quick brown fox jumps over the lazy dog', crc: 0x22620404 };

interface Addon {
  hardware_support?: boolean;
  sse42_crc?: Calculate;
  table_crc?: Calculate;
}

function loadAddon(): { calculate: Calculate; description: string } | string {
  if (!isSea()) return 'not running as a single executable';
  let bytes: ArrayBuffer;
  try {
    bytes = getAsset(CRC32C_ASSET);
  } catch {
    return 'the addon was not built into this executable';
  }
  let dir: string;
  try {
    dir = mkdtempSync(path.join(os.tmpdir(), 'eventbus-crc32c-'));
  } catch (error) {
    return `no private temporary directory for it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message} in ${os.tmpdir()})`;
  }
  try {
    const file = path.join(dir, CRC32C_ASSET);
    writeFileSync(file, Buffer.from(bytes), { mode: 0o600, flag: 'wx' });
    const module = { exports: {} as Addon };
    process.dlopen(module, file);
    const addon = module.exports;
    const calculate = addon.hardware_support === true ? addon.sse42_crc : addon.table_crc;
    if (typeof calculate !== 'function') return 'the embedded addon has no CRC function';
    if (calculate(Buffer.from(SELF_TEST.text)) >>> 0 !== SELF_TEST.crc) return 'the embedded addon failed its self-test';
    return { calculate, description: addon.hardware_support === true ? 'native (SSE4.2)' : 'native (table)' };
  } catch (error) {
    return `it did not load: ${((error as Error).message.split('\n')[0] ?? '').trim()}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const loaded = loadAddon();

/** Which implementation this executable uses, and why. */
export const seaCrc32c: CrcImplementation = typeof loaded === 'string'
  ? { native: false, description: `JavaScript (native addon unavailable: ${loaded})` }
  : { native: true, description: loaded.description };

/** fast-crc32c's interface. */
export default { calculate: typeof loaded === 'string' ? javascript.calculate : loaded.calculate };
