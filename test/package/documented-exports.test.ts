/**
 * Every name the package exports is documented: each value and type of each entry point
 * (package.json `exports`) appears as `Name` in docs/embedding.md (its "Everything each entry
 * point exports") or docs/research.md (the research tools). Values are read from the modules as
 * the package exports them; types from the entry points' sources (their export lists, and the
 * client's types.ts, which it re-exports whole). A name exported and documented nowhere fails.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';

const ROOT = new URL('../../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, ROOT), 'utf8');
const DOCS = read('docs/embedding.md') + read('docs/research.md');

/** The names a source file exports by name: `export { a, type B } from`, `export interface C`, `export function d`, … */
function exportedNames(file: string): string[] {
  const source = read(file);
  const names: string[] = [];
  for (const match of source.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of match[1]!.split(',')) {
      const name = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/).pop()!.trim();
      if (name !== '') names.push(name);
    }
  }
  for (const match of source.matchAll(/^export\s+(?:declare\s+)?(?:async\s+)?(?:interface|type|class|function\*?|const|let)\s+([A-Za-z_$][\w$]*)/gm)) names.push(match[1]!);
  return names;
}

const ENTRY_POINTS: [string, string, string[]][] = [
  ['eventbus', 'eventbus', ['src/index.ts']],
  ['eventbus/storage', 'eventbus/storage', ['src/storage/index.ts']],
  ['eventbus/storage/testing', 'eventbus/storage/testing', ['src/storage/testing/index.ts']],
  ['eventbus/storage/testing/journal-io', 'eventbus/storage/testing/journal-io', ['src/storage/testing/journal-io.ts']],
  ['eventbus/storage/testing/fault-io-module', 'eventbus/storage/testing/fault-io-module', ['src/storage/testing/fault-io-module.ts']],
  ['eventbus/client', 'eventbus/client', ['src/client/index.ts', 'src/client/types.ts']],
];

t.test('every exported value and type of every entry point is documented', async (t) => {
  for (const [label, specifier, sources] of ENTRY_POINTS) {
    const module = (await import(specifier)) as Record<string, unknown>;
    const names = new Set([...Object.keys(module), ...sources.flatMap(exportedNames)]);
    const missing = [...names].filter((name) => !DOCS.includes(`\`${name}\``) && !DOCS.includes(`\`${name}(`)).sort();
    t.same(missing, [], `${label}: ${names.size} names, each documented`);
  }
});
