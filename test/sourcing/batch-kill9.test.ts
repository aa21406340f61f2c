/**
 * Batches under kill -9 of the real server process, in a loop (issue 12): writers append keyed
 * batches of 1 to 40 events (fsync always, tiny segments so that batches meet rolls), a reader
 * polls the stream meanwhile and never sees part of a batch, then SIGKILL at a random moment and
 * a restart. After each restart every batch is whole or absent, every acknowledged batch is
 * there, each key's versions run 0, 1, 2, … without a gap, a repeated acknowledged batch is
 * answered as a duplicate, and an integer expected version continues from the recovered one.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { LineSocket } from '../helpers/server-lines.js';
import { startServerProcess, tempDir, type ServerProcess } from '../helpers/server-process.js';
import { seededRandom, testSeeds } from '../helpers/random.js';

const CYCLES = Number(process.env.EVENTBUS_KILL_CYCLES ?? 12);
const WRITERS = 4;
const KEYS = 6;
t.setTimeout(600_000); // room for a loaded machine

interface Batch { id: string; key: string; size: number; msgIds: string[] }

interface StoredView { offset: number; body: { b: string; i: number; n: number }; key?: string; version?: number; msg_id?: string }

async function readAll(s: LineSocket, from = 0): Promise<{ events: StoredView[]; pageEndedAtVisible: boolean[] }> {
  const events: StoredView[] = [];
  const ends: boolean[] = [];
  for (let next = from; ;) {
    const r = await s.request({ operation: 'get_stream_events', body: { stream_name: 'es', from_offset: next, max_events: 10_000 } }) as any;
    if (r.status !== true) throw new Error(JSON.stringify(r));
    events.push(...r.body.events);
    ends.push(r.body.events.length < 10_000);
    if (r.body.events.length < 10_000) return { events, pageEndedAtVisible: ends };
    next = r.body.next_offset;
  }
}

/** Problems with a read of the stream: a batch not whole and contiguous, a key's versions not gap-free. */
function check(events: StoredView[], partialTailAllowed: boolean, versionsFromZero = true): string[] {
  const problems: string[] = [];
  const versions = new Map<string, number>();
  for (let k = 0; k < events.length;) {
    const first = events[k]!;
    const n = first.body.n;
    for (let i = 0; i < n; i++) {
      const e = events[k + i];
      if (e === undefined) {
        if (!partialTailAllowed) problems.push(`batch ${first.body.b} shows ${i} of ${n} events`);
        return problems;
      }
      if (e.body.b !== first.body.b || e.body.i !== i) problems.push(`offset ${e.offset}: expected event ${i} of batch ${first.body.b}, found ${JSON.stringify(e.body)}`);
      const expected = versions.get(e.key!) ?? 0;
      if (versionsFromZero && e.version !== expected) problems.push(`offset ${e.offset}: key ${e.key} version ${e.version}, expected ${expected}`);
      versions.set(e.key!, expected + 1);
    }
    k += n;
  }
  return problems;
}

t.test(`kill -9 loop: ${CYCLES} cycles of keyed batches, never a partial batch`, async (t) => {
  const seed = testSeeds(Date.now() % 1_000_000, 1)[0]!;
  t.comment(`seed ${seed}`);
  const rng = seededRandom(seed);
  const random = (): number => rng.next();
  const dataDir = path.join(tempDir(t, 'batch-kill9-'), 'data');
  const cwd = tempDir(t, 'batch-kill9-cwd-');
  const config = path.join(cwd, 'config.yaml');
  fs.writeFileSync(config, 'storage:\n  segment_size_bytes: 16384\n');
  const args = ['--fsync', 'always', '--config', config];
  const acknowledged: Batch[] = [];
  let batchNumber = 0;
  let server: ServerProcess | null = null;
  t.teardown(async () => {
    await server?.stop('SIGKILL');
  });
  let totalVisibleChecks = 0;
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    server = await startServerProcess({ dataDir, cwd, args });
    const admin = await LineSocket.connect(server.port);
    if (cycle === 0) await admin.request({ operation: 'create_stream', body: { stream_name: 'es' } });

    // After the restart: whole batches only, every acknowledged one there, versions gap-free.
    const { events } = await readAll(admin);
    t.same(check(events, false), [], `cycle ${cycle}: the recovered stream holds whole batches, versions gap-free`);
    const present = new Set(events.map((e) => e.body.b));
    const lost = acknowledged.filter((b) => !present.has(b.id));
    t.same(lost.map((b) => b.id), [], `cycle ${cycle}: every acknowledged batch survived`);
    const repeatable = acknowledged.filter((b) => b.msgIds.length > 0);
    if (repeatable.length > 0) {
      const again = repeatable[Math.floor(random() * repeatable.length)]!;
      const r = await admin.request({ operation: 'append_events', body: { stream_name: 'es', key: again.key, events: again.msgIds.map((m, i) => ({ body: { b: again.id, i, n: again.size }, msg_id: m })) } }) as any;
      if (r.body?.duplicate !== true) t.comment(`${JSON.stringify(r).slice(0, 300)}; stored at ${JSON.stringify(events.filter((e) => e.body.b === again.id).map((e) => [e.offset, e.msg_id]))}`);
      t.equal(r.body?.duplicate, true, `cycle ${cycle}: an acknowledged batch sent again (${again.id}) is a duplicate after the restart`);
      const last = new Map<string, number>();
      for (const e of events) last.set(e.key!, e.version!);
      const key = [...last.keys()][0]!;
      const id = `c${cycle}-check`;
      const next = await admin.request({ operation: 'append_events', body: { stream_name: 'es', key, expected_version: last.get(key), events: [{ body: { b: id, i: 0, n: 1 } }] } }) as any;
      t.equal(next.status, true, `cycle ${cycle}: the expected version continues from the recovered one: ${JSON.stringify(next)}`);
      if (next.status === true) acknowledged.push({ id, key, size: 1, msgIds: [] });
    }

    // Load: writers append batches; a reader checks that what is visible ends on a batch end.
    let stop = false;
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      const s = await LineSocket.connect(server!.port);
      try {
        while (!stop) {
          const size = 1 + Math.floor(random() * 40);
          const key = `k${Math.floor(random() * KEYS)}`;
          const id = `c${cycle}-w${w}-${batchNumber++}`;
          const msgIds = Array.from({ length: size }, (_, i) => `${id}-${i}`);
          const events = msgIds.map((m, i) => ({ body: { b: id, i, n: size, pad: 'x'.repeat(Math.floor(random() * 200)) }, msg_id: m }));
          const r = await s.request({ operation: 'append_events', body: { stream_name: 'es', key, events } }) as any;
          if (r.status === true) acknowledged.push({ id, key, size, msgIds });
        }
      } catch {
        // the kill closed the connection
      } finally {
        s.close();
      }
    });
    const reader = (async () => {
      const s = await LineSocket.connect(server!.port);
      try {
        while (!stop) {
          const r = await s.request({ operation: 'get_stream_events', body: { stream_name: 'es', from_offset: Math.max(0, events.length - 50), max_events: 10_000 } }) as any;
          const seen: StoredView[] = r.body.events;
          // Start at a batch's first event; the page reached the visible end, so it must end whole.
          const start = seen.findIndex((e) => e.body.i === 0);
          if (start >= 0 && seen.length < 10_000) {
            totalVisibleChecks += 1;
            const problems = check(seen.slice(start), false, false);
            if (problems.length > 0) t.fail(`cycle ${cycle}: a reader saw part of a batch: ${problems[0]}`);
          }
        }
      } catch {
        // the kill closed the connection
      } finally {
        s.close();
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100 + random() * 400));
    server.child.kill('SIGKILL');
    await server.exited;
    stop = true;
    await Promise.all([...writers, reader]);
    admin.close();
  }
  // A clean stop at the end: verify the store.
  server = await startServerProcess({ dataDir, cwd, args });
  const admin = await LineSocket.connect(server.port);
  const { events } = await readAll(admin);
  t.same(check(events, false), [], 'the final stream holds whole batches');
  admin.close();
  t.equal(await server.stop(), 0);
  t.ok(acknowledged.length > CYCLES * 5, `${acknowledged.length} batches acknowledged, ${events.length} events`);
  t.ok(totalVisibleChecks > CYCLES, `${totalVisibleChecks} reads checked for partial batches`);
  const { spawnSync } = await import('node:child_process');
  const { MAIN } = await import('../helpers/server-process.js');
  const verify = spawnSync(process.execPath, [MAIN, 'verify', dataDir], { encoding: 'utf8' });
  t.equal(verify.status, 0, `eventbus verify finds the store sound:\n${verify.stdout}${verify.stderr}`);
});
