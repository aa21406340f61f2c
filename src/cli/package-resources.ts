/**
 * The resources of the npm build (see resources.ts): the version from package.json, the
 * documents from docs/, the admin page from src/server/http/page/ and uplot/dist/, and which CRC32C implementation fast-crc32c picked (its loader takes the
 * sse4_crc32 addon when it built and passes a self-test, else its JavaScript table).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { UPLOT_FILES, type PageFile } from '../server/http/page-assets.js';
import type { CrcImplementation, DocumentName, Resources } from './resources.js';

/** The package's root, from dist/src/cli. */
const ROOT = new URL('../../../', import.meta.url);

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Compares fast-crc32c's choice (the module crc.ts uses) with the addon it would have loaded. */
function detectCrc32c(): CrcImplementation {
  const require = createRequire(import.meta.url);
  const loaded = require('fast-crc32c') as { calculate: unknown };
  try {
    // Resolved from fast-crc32c's own directory, as its loader resolves it.
    const addon = createRequire(require.resolve('fast-crc32c'))('sse4_crc32') as { calculate: unknown; hardware_support?: boolean };
    if (addon.calculate === loaded.calculate) return { native: true, description: addon.hardware_support === false ? 'native (table)' : 'native (SSE4.2)' };
    return { native: false, description: 'JavaScript (the sse4_crc32 addon failed its self-test)' };
  } catch (error) {
    const why = ((error as Error).message.split('\n')[0] ?? '').trim();
    return { native: false, description: `JavaScript (the sse4_crc32 addon did not load: ${why}; reinstall with a C++ compiler to build it)` };
  }
}

/** An admin page file: ours from src/server/http/page/, uPlot's from its package. */
function pageFile(name: PageFile): Buffer {
  if (UPLOT_FILES.includes(name)) {
    const uplotMain = createRequire(import.meta.url).resolve('uplot');
    return readFileSync(path.join(path.dirname(uplotMain), name));
  }
  return readFileSync(new URL(`src/server/http/page/${name}`, ROOT));
}

export function packageResources(): Resources {
  let crc: CrcImplementation | undefined;
  return {
    version: packageVersion(),
    build: 'npm',
    crc32c: () => (crc ??= detectCrc32c()),
    document: (name: DocumentName) => readFileSync(new URL(`docs/${name}.md`, ROOT), 'utf8'),
    pageAsset: pageFile,
  };
}
