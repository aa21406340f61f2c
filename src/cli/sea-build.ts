/**
 * Builds the self-contained `eventbus` binary (Node.js single executable application):
 * `npm run build:sea` → dist/sea/eventbus, which needs no Node.js, npm or node_modules.
 *
 * 1. esbuild bundles src/cli/sea-main.ts and every dependency into one CommonJS file, with
 *    src/cli/sea-crc32c.ts in place of fast-crc32c (its loader requires its implementations by
 *    computed names, which a bundle cannot hold).
 * 2. node --experimental-sea-config turns the bundle into a blob, with assets: the sse4_crc32
 *    native addon (loaded at start by sea-crc32c.ts; JavaScript where it cannot load) and
 *    docs/protocol.md and docs/operations.md (`eventbus docs`), and the admin page's files
 *    (src/server/http/page/ and uPlot's, for `serve --http-port`).
 * 3. A copy of this node binary gets the blob injected with postject.
 *
 * postject's ELF library (LIEF) warns `Can't find string offset for section name '.note.100'`
 * about note sections of the node binary whose names it cannot look up while rewriting the
 * section table (nodejs/postject#83, lief-project/LIEF#816). They are harmless (the binary runs,
 * and its tests pass) and say nothing a user can act on, so exactly those lines are dropped;
 * anything else postject prints is shown.
 *
 * Run with the Node.js the binary should carry (`node dist/src/cli/sea-build.js [output]`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PAGE_FILES, UPLOT_FILES, pageAssetKey, type PageFile } from '../server/http/page-assets.js';
import { CRC32C_ASSET, DOCUMENTS, documentAsset } from './resources.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'node_modules', '.bin');
/** The sentinel fuse of Node.js single executable applications (Node 20). */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** LIEF's harmless complaint about the node binary's note sections (see above). */
const NOTE_WARNING = /^warning: Can't find string offset for section name '\.note(\.\d+)?'$/;

/** The sse4_crc32 addon as npm built it, or undefined when it did not build. */
function nativeAddon(): string | undefined {
  try {
    const fromFastCrc32c = createRequire(createRequire(import.meta.url).resolve('fast-crc32c'));
    const file = path.join(path.dirname(fromFastCrc32c.resolve('sse4_crc32/package.json')), 'build', 'Release', 'crc32c.node');
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

function inject(output: string, blob: string): void {
  const result = spawnSync(path.join(BIN, 'postject'), [output, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const shown = result.stderr.split('\n').filter((line) => line.trim() !== '' && !NOTE_WARNING.test(line.trim()));
  if (shown.length > 0) process.stderr.write(`${shown.join('\n')}\n`);
  if (result.status !== 0) throw new Error(`postject failed (${result.status ?? result.signal}): ${shown.join(' ')}`);
}

export function buildSea(output = path.join(ROOT, 'dist', 'sea', 'eventbus')): string {
  const work = path.dirname(output);
  mkdirSync(work, { recursive: true });
  const bundle = path.join(work, 'eventbus.cjs');
  const blob = path.join(work, 'eventbus.blob');
  const config = path.join(work, 'sea-config.json');
  const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  execFileSync(path.join(BIN, 'esbuild'), [
    path.join(ROOT, 'src', 'cli', 'sea-main.ts'),
    '--bundle', '--platform=node', '--target=node20', '--format=cjs', '--log-level=warning',
    `--alias:fast-crc32c=${path.join(ROOT, 'src', 'cli', 'sea-crc32c.ts')}`,
    `--alias:eventbus-sea-js-crc32c=${path.join(ROOT, 'node_modules', 'fast-crc32c', 'impls', 'js_crc32c.js')}`,
    `--define:EVENTBUS_VERSION=${JSON.stringify(version)}`,
    `--outfile=${bundle}`,
  ], { stdio: 'inherit' });
  const assets: Record<string, string> = {};
  for (const name of DOCUMENTS) assets[documentAsset(name)] = path.join(ROOT, 'docs', `${name}.md`);
  for (const name of Object.keys(PAGE_FILES) as PageFile[]) {
    assets[pageAssetKey(name)] = UPLOT_FILES.includes(name) ? path.join(ROOT, 'node_modules', 'uplot', 'dist', name) : path.join(ROOT, 'src', 'server', 'http', 'page', name);
  }
  const addon = nativeAddon();
  if (addon === undefined) process.stderr.write('sea-build: the sse4_crc32 addon is not built: the executable will compute CRC32C in JavaScript\n');
  else assets[CRC32C_ASSET] = addon;
  writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, assets }));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(output, { force: true });
  copyFileSync(process.execPath, output);
  chmodSync(output, 0o755);
  inject(output, blob);
  rmSync(blob, { force: true });
  rmSync(config, { force: true });
  return output;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${buildSea(process.argv[2])}\n`);
}
