/**
 * The examples of docs/embedding.md and docs/research.md are the files under examples/, byte for
 * byte, and each runs as a user runs it (`node dist/examples/<name>.js <data dir>`), twice on the
 * same directory, printing what the documents say it prints. They import only the package's
 * public names (`eventbus/storage`, `eventbus/storage/testing`), never an internal file.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tempDir } from '../helpers/temp-dir.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOCS = ['docs/embedding.md', 'docs/research.md'];
const MARKER = /<!-- (examples\/[\w-]+\.ts)[^>]*-->\n```ts\n([\s\S]*?)\n```/g;

/** Each storage example with what its output must match, run after run. */
const EXPECTED: Record<string, (run: number) => RegExp> = {
  'storage-basics': (run) => new RegExp(`^appended offsets ${3 * run} to ${3 * run + 2}\\n#${3 * run} \\{"total":12\\.5\\}\\n#${3 * run + 1} \\{"total":3\\}\\n#${3 * run + 2} \\{"total":4\\}\\norders holds offsets 0 to ${3 * run + 2} in 1 segment\\(s\\)\\n$`),
  'storage-consumers': (run) => new RegExp(`^delivered a@${3 * run} b@${3 * run + 1} c@${3 * run + 2}\\nretried c@${3 * run + 2} \\(delivery 2\\)\\nworker: cursor ${3 * run + 3}, pending 0, retry 0, lag 0\\n$`),
  'storage-snapshots': (run) => new RegExp(`^snapshot of 1 stream\\(s\\), ${run + 1} event\\(s\\)\\nverify: ok, \\d+ files checked, 0 problems\\nrestored copy holds ${run + 1} event\\(s\\)\\n$`),
  'storage-observer': (run) => new RegExp(`^opened after a clean close: ${run} stream\\(s\\), 0 torn bytes cut, [\\d.]+ ms\\n100 events made durable in \\d+ round\\(s\\) of fsyncs, the longest wait [\\d.]+ ms\\n$`),
  'storage-errors': () => /^STREAM_NOT_FOUND: stream 'no-such-stream' not found\nEVENT_TOO_LARGE: event is 2048 bytes, the limit is 1024\nLOCKED: data directory .* is already open in this process\n$/,
  'crash-check': () => /^\d+ operations, \d+ crash points checked\n$/,
};

function docBlocks(): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const doc of DOCS) {
    const text = readFileSync(path.join(ROOT, doc), 'utf8');
    for (const [, file, block] of text.matchAll(MARKER)) blocks.set(file!, `${block}\n`);
  }
  return blocks;
}

const examples = readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.ts') && f !== 'client.ts').map((f) => f.slice(0, -3));

t.test('every example is shown in the documents exactly as its file', async (t) => {
  const blocks = docBlocks();
  t.same([...blocks.keys()].sort(), examples.map((e) => `examples/${e}.ts`).sort(), 'each example file is shown once, and nothing else is marked');
  for (const [file, block] of blocks) t.equal(block, readFileSync(path.join(ROOT, file), 'utf8'), `${file} equals its block`);
  t.same(Object.keys(EXPECTED).sort(), [...examples].sort(), 'this test knows the output of every example');
});

t.test('the examples import only the public names of the package', async (t) => {
  for (const example of examples) {
    const source = readFileSync(path.join(ROOT, 'examples', `${example}.ts`), 'utf8');
    const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]!);
    t.ok(imports.length > 0 && imports.every((name) => name.startsWith('node:') || ['eventbus/storage', 'eventbus/storage/testing'].includes(name)), `${example}: ${imports.join(', ')}`);
  }
});

for (const example of examples) {
  t.test(`examples/${example}.ts runs and prints what the documents say, twice on one directory`, async (t) => {
    const dataDir = path.join(tempDir(t, `example-${example}`), 'data');
    for (const run of [0, 1]) {
      const result = spawnSync(process.execPath, [path.join(ROOT, 'dist/examples', `${example}.js`), dataDir], { encoding: 'utf8', timeout: 120_000 });
      t.equal(result.status, 0, `run ${run + 1} exits 0 ${result.stderr}`);
      t.equal(result.stderr, '', 'nothing on stderr');
      t.match(result.stdout, EXPECTED[example]!(run), `run ${run + 1} prints:\n${result.stdout}`);
    }
  });
}

t.test('the crash checker example fails, and replays its violation, on a disk whose fsyncs do nothing', async (t) => {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'dist/examples/crash-check.js'), '--broken'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(result.status, 1, 'exit 1');
  t.match(result.stdout, /^\d+ operations, \d+ crash points checked\nviolation at operation \d+ \(\w[\w ,]*, (drop|torn) crash\), seed 42: .+\nreplayed: the same run, the same violation\n$/);
});
