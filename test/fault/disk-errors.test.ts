/**
 * Disk errors at the server level (issue 6): ENOSPC and EIO injected into the real server
 * process's writes and fsyncs (src/storage/testing/fault-io-module.ts, through the
 * EVENTBUS_TEST_IO_MODULE hook), once or persistently, while clients write, consume and read over
 * the wire. For each fault:
 *
 * - the client gets a failure with a stable code (DISK_FULL, IO_ERROR, STREAM_FAILED) and a
 *   reason that says what failed;
 * - nothing unsynced is acknowledged: the faulty layer sits on the journaling layer, and after the
 *   scenario the server is killed and the power cut (everything not fsynced dropped); every
 *   acknowledged write and mark must be there after the restart;
 * - reads keep working while the fault is in force;
 * - after the fault clears and the process restarts, everything acknowledged is there and the
 *   streams take writes again.
 *
 * (Engine-level disk-error tests are in test/storage/disk-errors.test.ts; these are over the wire.)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { isEventBusError } from '../../src/errors.js';
import { setFaults, faultState, type FaultJson, replayJournal, DurabilityModel } from 'eventbus/storage/testing';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const MODULE = fileURLToPath(import.meta.resolve('eventbus/storage/testing/fault-io-module'));

/** One outcome of a request: acknowledged (with its offset) or refused (with code and reason). */
type Outcome = { ok: true; offset: number } | { ok: false; code: string; reason: string };

/** A scenario's world: one server with faults, and what it acknowledged. */
class World {
  server!: FaultServer;
  client!: EventBusClient;
  readonly control: string;
  readonly journal: string;
  readonly model: DurabilityModel;
  /** stream → offset → payload, every acknowledged write. */
  readonly acknowledged = new Map<string, Map<number, string>>();
  /** stream → every payload sent. */
  readonly sent = new Map<string, Set<string>>();
  /** stream/consumer → offsets whose mark 1 was acknowledged. */
  readonly acked = new Map<string, Set<number>>();
  private n = 0;

  constructor(readonly t: TapTest, readonly dataDir: string, readonly workDir: string, readonly config: string) {
    this.control = path.join(workDir, 'faults.json');
    this.journal = path.join(workDir, 'journal');
    this.model = DurabilityModel.fromDisk(dataDir);
  }

  async start(): Promise<void> {
    this.server = await startFaultServer({
      dataDir: this.dataDir,
      workDir: this.workDir,
      config: this.config,
      env: { EVENTBUS_TEST_IO_MODULE: MODULE, EVENTBUS_FAULT_CONTROL: this.control, EVENTBUS_JOURNAL_FILE: this.journal, EVENTBUS_JOURNAL_ROOT: this.dataDir },
    });
    this.client = await EventBusClient.connect({ port: this.server.port });
  }

  faults(faults: FaultJson[]): Promise<void> {
    return setFaults(this.control, faults);
  }

  /** Writes `count` events to `stream`, pipelined; records the acknowledged ones. */
  async write(stream: string, count: number, padding = 20): Promise<Outcome[]> {
    const payloads = Array.from({ length: count }, () => JSON.stringify({ n: this.n++, p: 'y'.repeat(padding) }));
    let sent = this.sent.get(stream);
    if (sent === undefined) this.sent.set(stream, (sent = new Set()));
    for (const p of payloads) sent.add(p);
    return Promise.all(payloads.map((p) => this.client.writeEventJson(stream, p).then(
      (ack): Outcome => {
        let map = this.acknowledged.get(stream);
        if (map === undefined) this.acknowledged.set(stream, (map = new Map()));
        map.set(ack.offset, p);
        return { ok: true, offset: ack.offset };
      },
      (error: unknown): Outcome => refusal(error),
    )));
  }

  async consumeAndAck(stream: string, consumer: string, max: number): Promise<number[]> {
    const { events } = await this.client.processEvents(stream, { consumer, maxEvents: max });
    if (events.length > 0) await this.client.markEvent(events.map((e) => e.id), 1, { consumer });
    let set = this.acked.get(`${stream}/${consumer}`);
    if (set === undefined) this.acked.set(`${stream}/${consumer}`, (set = new Set()));
    for (const e of events) set.add(e.offset);
    return events.map((e) => e.offset);
  }

  /** Reads every event of `stream`; checks it holds exactly the acknowledged ones (and maybe unacknowledged ones we sent). */
  async checkStream(stream: string, client: EventBusClient, label: string): Promise<number> {
    const events = [];
    for (let from = 0; ;) {
      const page = await client.getStreamEvents(stream, { fromOffset: from, maxEvents: 10_000 });
      if (page.events.length === 0) break;
      events.push(...page.events);
      from = page.nextOffset;
    }
    const offsets = events.map((e) => e.offset);
    this.t.same(offsets, offsets.map((_, i) => i), `${label}: ${stream} has no offset gap`);
    const texts = new Map(events.map((e) => [e.offset, JSON.stringify(e.body)]));
    const lost = [...(this.acknowledged.get(stream) ?? new Map<number, string>())].filter(([offset, p]) => texts.get(offset) !== p);
    this.t.same(lost, [], `${label}: every acknowledged write to ${stream} is at its offset with its bytes`);
    const foreign = [...texts.values()].filter((text) => !(this.sent.get(stream)?.has(text) ?? false));
    this.t.same(foreign, [], `${label}: ${stream} holds only events that were sent`);
    this.t.equal(new Set(texts.values()).size, texts.size, `${label}: ${stream} holds no event twice`);
    return events.length;
  }

  /**
   * Ends the scenario: SIGKILL, then (with `powerLoss`) everything not fsynced is dropped; then a
   * restart with no faults, and every acknowledgement is checked.
   */
  async restartAndCheck(powerLoss: boolean): Promise<void> {
    await this.client.close().catch(() => {});
    await this.server.kill();
    replayJournal(this.model, this.journal);
    if (powerLoss) this.model.materialize(this.model.durableImage('drop'));
    const server = await startFaultServer({ dataDir: this.dataDir, workDir: this.workDir, config: this.config });
    this.t.teardown(() => server.kill());
    const client = await EventBusClient.connect({ port: server.port });
    const label = powerLoss ? 'after SIGKILL and power loss' : 'after SIGKILL';
    try {
      for (const stream of this.sent.keys()) await this.checkStream(stream, client, label);
      for (const [key, offsets] of this.acked) {
        const [stream, consumer] = key.split('/') as [string, string];
        const page = await client.getStreamEvents(stream, { consumer, maxEvents: 10_000 });
        const status = new Map(page.events.map((e) => [e.offset, e.status]));
        this.t.same([...offsets].filter((o) => status.get(o) !== 1), [], `${label}: every acknowledged mark of ${key} is in effect`);
      }
      for (const stream of this.sent.keys()) {
        const after = await client.writeEvent(stream, { after: 'restart' }).then(() => 'ok', (error: unknown) => (error as Error).message);
        this.t.equal(after, 'ok', `${label}: ${stream} takes writes again`);
      }
    } finally {
      await client.close();
      await server.stop();
    }
  }
}

function refusal(error: unknown): Outcome {
  if (!isEventBusError(error)) throw error;
  return { ok: false, code: error.code, reason: error.reason };
}

/** Runs `body` against a fresh server with the fault layer. */
function scenario(name: string, options: { segmentSizeBytes?: number }, body: (w: World, t: TapTest) => Promise<void>): void {
  t.test(name, async (t) => {
    const dataDir = tempDir(t, 'disk-errors-data');
    const workDir = tempDir(t, 'disk-errors-work');
    const config = `storage:\n  segment_size_bytes: ${options.segmentSizeBytes ?? 1024 * 1024}\n`;
    const world = new World(t, dataDir, workDir, config);
    await world.start();
    t.teardown(() => world.server.kill());
    await world.client.createStream('a');
    await world.client.createStream('b');
    await body(world, t);
  });
}

/** Checks refusals: all failed, with one of `codes`, and a reason matching `reason`. */
function checkRefused(t: TapTest, outcomes: Outcome[], codes: string[], reason: RegExp, label: string): void {
  const refused = outcomes.filter((o): o is Extract<Outcome, { ok: false }> => !o.ok);
  t.equal(refused.length, outcomes.length, `${label}: nothing acknowledged`);
  t.same([...new Set(refused.map((o) => o.code))].filter((c) => !codes.includes(c)), [], `${label}: codes are ${codes.join(' or ')} (got ${[...new Set(refused.map((o) => o.code))].join(', ')})`);
  t.ok(refused.every((o) => reason.test(o.reason)), `${label}: the reason says what failed (${refused[0]?.reason})`);
}

/** How often each fault fired, once the server has reported at least `atLeast` in total (or after 2 s). */
async function firedCounts(control: string, atLeast: number): Promise<number[]> {
  const started = Date.now();
  for (;;) {
    const { fired } = faultState(control);
    if (fired.reduce((a, b) => a + b, 0) >= atLeast || Date.now() - started > 2000) return fired;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A request that must fail with one of `codes`. */
async function refusedWith(t: TapTest, request: Promise<unknown>, codes: string[], label: string): Promise<void> {
  const outcome = await request.then(() => null, (error: unknown) => error);
  t.ok(isEventBusError(outcome) && codes.includes(outcome.code), `${label}: refused with ${codes.join(' or ')} (got ${isEventBusError(outcome) ? `${outcome.code}: ${outcome.reason}` : String(outcome)})`);
}

scenario('ENOSPC once on a segment write', {}, async (w, t) => {
  await w.write('a', 20);
  await w.write('b', 20);
  await w.faults([{ op: 'writev', errno: 'ENOSPC', path: '/a?[0-9]+\\.log$' }]);
  const failed = await w.write('a', 10);
  checkRefused(t, failed, ['DISK_FULL'], /disk full/, 'writes to a');
  t.same(await firedCounts(w.control, 1), [1], 'the fault fired once');
  t.ok((await w.write('b', 5)).every((o) => o.ok), 'the other stream keeps taking writes (the disk has room again)');
  checkRefused(t, await w.write('a', 3), ['DISK_FULL'], /refuses appends until reopened/, 'later writes to a');
  await w.checkStream('a', w.client, 'while refusing');
  t.equal((await w.client.getStreamInfo('a')).nextOffset, 20, 'a shows only its acknowledged events');
  await w.restartAndCheck(true);
});

scenario('ENOSPC on every write (the disk is full)', {}, async (w, t) => {
  await w.write('a', 20);
  await w.write('b', 20);
  await w.consumeAndAck('a', 'c1', 5);
  const { events } = await w.client.processEvents('a', { consumer: 'c1', maxEvents: 5 });
  await w.faults([{ op: 'writev', errno: 'ENOSPC', persistent: true }]);
  checkRefused(t, await w.write('a', 10), ['DISK_FULL'], /disk full/, 'writes to a');
  checkRefused(t, await w.write('b', 10), ['DISK_FULL'], /disk full/, 'writes to b');
  await refusedWith(t, w.client.markEvent(events.map((e) => e.id), 1, { consumer: 'c1' }), ['DISK_FULL'], 'mark_event');
  await refusedWith(t, w.client.processEvents('a', { consumer: 'c1' }), ['DISK_FULL'], 'process_events');
  await refusedWith(t, w.client.createStream('c'), ['DISK_FULL'], 'create_stream');
  await w.checkStream('a', w.client, 'while the disk is full');
  await w.checkStream('b', w.client, 'while the disk is full');
  t.equal((await w.client.getStreamInfo('b')).eventCount, 20, 'get_stream_info works');
  await w.faults([]);
  checkRefused(t, await w.write('a', 2), ['DISK_FULL'], /refuses appends until reopened/, 'writes after the disk has room, before a restart');
  await w.restartAndCheck(true);
});

scenario('EIO once on a segment fsync', {}, async (w, t) => {
  await w.write('a', 20);
  await w.write('b', 20);
  await w.faults([{ op: ['datasync', 'datasyncNow'], errno: 'EIO', path: '[0-9]+\\.log$' }]);
  const failed = await w.write('a', 10);
  checkRefused(t, failed, ['IO_ERROR'], /I\/O error: fsync/, 'writes whose fsync failed');
  checkRefused(t, await w.write('a', 3), ['STREAM_FAILED'], /refuses appends until reopened/, 'later writes to a');
  t.ok((await w.write('b', 5)).every((o) => o.ok), 'the other stream keeps taking writes');
  await w.checkStream('a', w.client, 'after the failed fsync');
  t.equal((await w.client.getStreamInfo('a')).nextOffset, 20, 'the events whose fsync failed were never shown');
  await w.restartAndCheck(true);
});

scenario('EIO on every fsync', {}, async (w, t) => {
  await w.write('a', 20);
  await w.consumeAndAck('a', 'c1', 5);
  await w.faults([{ op: ['datasync', 'syncDir', 'datasyncNow', 'syncDirNow'], errno: 'EIO', persistent: true }]);
  checkRefused(t, await w.write('a', 10), ['IO_ERROR'], /I\/O error/, 'writes');
  checkRefused(t, await w.write('b', 10), ['IO_ERROR'], /I\/O error/, 'writes to another stream');
  await refusedWith(t, w.client.processEvents('a', { consumer: 'c1' }), ['IO_ERROR'], 'process_events');
  await refusedWith(t, w.client.createStream('c'), ['IO_ERROR'], 'create_stream');
  await w.checkStream('a', w.client, 'while fsync fails');
  await w.faults([]);
  checkRefused(t, await w.write('a', 2), ['STREAM_FAILED'], /refuses appends until reopened/, 'writes after the fault cleared, before a restart');
  await w.restartAndCheck(true);
});

scenario('EIO on the directory fsync of a segment roll', { segmentSizeBytes: 4096 }, async (w, t) => {
  await w.write('a', 10);
  await w.faults([{ op: 'syncDir', errno: 'EIO', path: '/streams/[^/]+$', persistent: true }]);
  // 30 events of ~150 bytes cross the 4 KiB segment: the roll's directory fsync fails.
  const outcomes = await w.write('a', 30, 120);
  checkRefused(t, outcomes, ['IO_ERROR'], /I\/O error: fsync of .*streams/, 'the writes that needed the roll');
  t.ok((await firedCounts(w.control, 1))[0]! >= 1, 'the directory fsync failed');
  checkRefused(t, await w.write('a', 2), ['STREAM_FAILED'], /refuses appends/, 'later writes');
  t.equal((await w.client.getStreamInfo('a')).nextOffset, 10, 'only the acknowledged events are shown');
  await w.restartAndCheck(true);
});

scenario('ENOSPC part-way through a record (a torn write in the page cache)', {}, async (w, t) => {
  await w.write('a', 20);
  await w.faults([{ op: 'writev', errno: 'ENOSPC', path: '[0-9]+\\.log$', partialBytes: 30 }]);
  checkRefused(t, await w.write('a', 5), ['DISK_FULL'], /disk full/, 'the torn write');
  t.ok((await w.write('b', 5)).every((o) => o.ok), 'other streams keep taking writes');
  // A plain kill: the page cache (and whatever of the torn write the engine did not cut) survives.
  await w.restartAndCheck(false);
});

scenario('ENOSPC on the consumer journal', {}, async (w, t) => {
  await w.write('a', 30);
  const acked = await w.consumeAndAck('a', 'c1', 10);
  t.equal(acked.length, 10, 'ten events consumed and acknowledged before the fault');
  const { events } = await w.client.processEvents('a', { consumer: 'c1', maxEvents: 5 });
  await w.faults([{ op: 'writev', errno: 'ENOSPC', path: '/consumers(\\.compact)?$', persistent: true }]);
  await refusedWith(t, w.client.markEvent(events.map((e) => e.id), 1, { consumer: 'c1' }), ['DISK_FULL'], 'mark_event');
  await refusedWith(t, w.client.processEvents('a', { consumer: 'c1' }), ['DISK_FULL'], 'process_events');
  t.ok((await w.write('a', 5)).every((o) => o.ok), 'writes to the stream keep working');
  const page = await w.client.getStreamEvents('a', { consumer: 'c1' });
  t.same(page.events.slice(0, 10).map((e) => e.status), Array(10).fill(1), 'reads (with statuses) keep working');
  await w.restartAndCheck(true);
  // The marks refused during the fault were never acknowledged; the delivered events come back.
});
