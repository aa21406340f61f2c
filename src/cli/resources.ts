/**
 * What the command takes from the build it runs in: its version, how CRC32C is computed, the
 * bundled documents (`eventbus docs`) and the admin page's files (`serve --http-port`). The npm build reads them from the package
 * (package-resources.ts), the single executable from its embedded assets (sea-resources.ts).
 */

/** The documents `eventbus docs` prints: docs/<name>.md. */
export const DOCUMENTS = ['protocol', 'operations'] as const;
export type DocumentName = (typeof DOCUMENTS)[number];

/** The single executable's asset keys (sea-build.ts embeds them, sea-*.ts read them). */
export const CRC32C_ASSET = 'crc32c.node';
export function documentAsset(name: DocumentName): string {
  return `docs/${name}.md`;
}

/** Which CRC32C implementation checks every record. */
export interface CrcImplementation {
  /** True for the native addon (SSE4.2 or its C table), false for the JavaScript table. */
  native: boolean;
  /** For people: `native (SSE4.2)`, or `JavaScript (<why the addon did not load>)`. */
  description: string;
}

import type { PageAssets } from '../server/http/page-assets.js';

export interface Resources {
  version: string;
  /** `npm` or `single executable`. */
  build: string;
  crc32c(): CrcImplementation;
  /** The text of docs/<name>.md as shipped with this build. */
  document(name: DocumentName): string;
  /** The admin page's files (the HTTP port's `/`), as shipped with this build. */
  pageAsset: PageAssets;
}

/** What `eventbus --version` prints: the version first, then the build, Node.js and CRC32C. */
export function versionLine(resources: Resources): string {
  return `${resources.version} (${resources.build}, Node.js ${process.version}, CRC32C ${resources.crc32c().description})`;
}
