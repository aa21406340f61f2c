/**
 * `allowScripts` in package.json declares, for every installed dependency that has an install
 * script, whether npm may run it, so `npm install` / `npm ci` never warn about an undeclared one.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Manifest {
  name: string;
  version: string;
  scripts?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}

/** Every package under node_modules (nested ones too) that has an install-time script. */
function withInstallScripts(): Manifest[] {
  const found: Manifest[] = [];
  const visit = (modules: string) => {
    if (!existsSync(modules)) return;
    for (const entry of readdirSync(modules)) {
      if (entry.startsWith('.')) continue;
      const dirs = entry.startsWith('@') ? readdirSync(path.join(modules, entry)).map((n) => path.join(modules, entry, n)) : [path.join(modules, entry)];
      for (const dir of dirs) {
        const file = path.join(dir, 'package.json');
        if (!existsSync(file)) continue;
        const manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
        const scripts = manifest.scripts ?? {};
        // npm runs `node-gyp rebuild` for a binding.gyp without an install script.
        if (scripts.preinstall !== undefined || scripts.install !== undefined || scripts.postinstall !== undefined || existsSync(path.join(dir, 'binding.gyp'))) {
          found.push(manifest);
        }
        visit(path.join(dir, 'node_modules'));
      }
    }
  };
  visit(path.join(ROOT, 'node_modules'));
  return found;
}

t.test('every dependency with an install script is declared in allowScripts', async (t) => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;
  const declared = Object.keys(pkg.allowScripts ?? {}).map((key) => key.replace(/(?<=.)@.*$/, ''));
  const packages = withInstallScripts();
  t.ok(packages.some((p) => p.name === 'esbuild'), 'esbuild (the case that warned) is found');
  for (const manifest of packages) t.ok(declared.includes(manifest.name), `${manifest.name}@${manifest.version} is declared`);
  t.equal(pkg.allowScripts?.esbuild, false, "esbuild's script is declined (its launcher runs the platform binary without it)");
  t.equal(pkg.allowScripts?.sse4_crc32, true, 'the native CRC32C addon is built');
});
