import path from 'node:path';
import { Engine, nodeIO, restoreSnapshot, verifyDirectory } from 'eventbus/storage';

const root = process.argv[2] ?? 'example-data';
const engine = await Engine.open({ dataDir: path.join(root, 'live') });
let snapshot: string;
try {
  if (engine.getStream('orders') === undefined) await engine.createStream('orders');
  await engine.append('orders', Buffer.from('{"total":12.5}'));
  // A point-in-time copy (sealed segments hard-linked, the rest copied) while writes go on.
  const taken = await engine.snapshot(path.join(root, 'snapshots'));
  snapshot = taken.path;
  console.log(`snapshot of ${taken.streams} stream(s), ${taken.events} event(s)`);
} finally {
  await engine.close();
}

// Offline check of every file (a snapshot also against its MANIFEST); nodeIO is the real file system.
const report = verifyDirectory(nodeIO, snapshot);
console.log(`verify: ${report.ok ? 'ok' : 'DAMAGED'}, ${report.files} files checked, ${report.problems.length} problems`);

// A snapshot is never opened as a store: restore makes a new data directory of it.
const restored = path.join(root, `restored-${Date.now()}`);
restoreSnapshot(nodeIO, snapshot, restored);
const copy = await Engine.open({ dataDir: restored, create: false });
console.log(`restored copy holds ${copy.stats('orders').nextOffset} event(s)`);
await copy.close();
