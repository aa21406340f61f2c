/**
 * Builds the self-contained `eventbus` binary (Node.js single executable application):
 * `npm run build:sea` → dist/sea/eventbus, which needs no Node.js, npm or node_modules.
 *
 * 1. esbuild bundles src/cli/sea-main.ts and every dependency into one CommonJS file. CRC32C
 *    comes from fast-crc32c's JavaScript implementation: a native addon cannot be embedded.
 * 2. node --experimental-sea-config turns the bundle into a blob.
 * 3. A copy of this node binary gets the blob injected with postject.
 *
 * Run with the Node.js the binary should carry (`node dist/src/cli/sea-build.js [output]`).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'node_modules', '.bin');
/** The sentinel fuse of Node.js single executable applications (Node 20). */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

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
    `--alias:fast-crc32c=${path.join(ROOT, 'node_modules', 'fast-crc32c', 'impls', 'js_crc32c.js')}`,
    `--define:EVENTBUS_VERSION=${JSON.stringify(version)}`,
    `--outfile=${bundle}`,
  ], { stdio: 'inherit' });
  writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true }));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'inherit' });
  rmSync(output, { force: true });
  copyFileSync(process.execPath, output);
  chmodSync(output, 0o755);
  execFileSync(path.join(BIN, 'postject'), [output, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(blob, { force: true });
  rmSync(config, { force: true });
  return output;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${buildSea(process.argv[2])}\n`);
}
