/**
 * The resources of the single executable (see resources.ts): the version fixed at build time,
 * the documents and the admin page embedded as assets, and the CRC32C implementation sea-crc32c.ts loaded.
 */
import { getAsset } from 'node:sea';
import { pageAssetKey } from '../server/http/page-assets.js';
import { documentAsset, type Resources } from './resources.js';
import { seaCrc32c } from './sea-crc32c.js';

/** Set by sea-build.ts (esbuild --define). */
declare const EVENTBUS_VERSION: string;

export function seaResources(): Resources {
  return {
    version: EVENTBUS_VERSION,
    build: 'single executable',
    crc32c: () => seaCrc32c,
    document: (name) => getAsset(documentAsset(name), 'utf8'),
    pageAsset: (name) => Buffer.from(getAsset(pageAssetKey(name))),
  };
}
