/**
 * The jetstream backend's write path with the fields of issue 12 (key, version, type, metadata,
 * msg_id, expected_version), through the store interface the bus uses: racing writers on one key
 * and version (exactly one wins, versions gap-free), duplicates by msg_id, the refusal of a
 * multi-event append, and two gateways (stores) agreeing on streams and consumers.
 */
import { AckPolicy, DeliverPolicy, connect, type JetStreamManager } from 'nats';
import t from 'tap';
import { JetStreamStore } from '../../src/bus/jetstream/jetstream-store.js';
import { LEADER_TTL_MS } from '../../src/bus/jetstream/leader-affinity.js';
import { jsConsumerName } from '../../src/bus/jetstream/names.js';
import { addReaderOnLeader } from '../../src/bus/jetstream/reader-placement.js';
import { natsSkip, startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';

const body = (value: unknown) => Buffer.from(JSON.stringify(value));

/** The JetStream name of eventbus stream `name` (its description names it). */
async function jsNameOfStream(jsm: JetStreamManager, name: string): Promise<string> {
  for await (const js of jsm.streams.names()) if ((await jsm.streams.info(js)).config.description === `eventbus stream '${name}'`) return js;
  throw new Error(`no JetStream stream for ${name}`);
}

t.test('the write path on a 3-node cluster', natsSkip(), async (t) => {
  const cluster: NatsCluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  const a = await JetStreamStore.open({ servers: cluster.servers });
  const b = await JetStreamStore.open({ servers: [...cluster.servers].reverse() });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  await a.createStream('orders');
  await t.rejects(b.createStream('orders'), { code: 'STREAM_EXISTS' }, 'another gateway sees the stream at once');

  t.test('unkeyed writes: offsets from 0, msg_id suppresses a retry', async (t) => {
    const first = await a.append('orders', [{ payload: body({ n: 0 }) }], {});
    t.equal(first.events[0]!.offset, 0);
    const once = await a.append('orders', [{ payload: body({ n: 1 }), msgId: 'm-1' }], {});
    const again = await b.append('orders', [{ payload: body({ n: 1 }), msgId: 'm-1' }], {});
    t.equal(again.duplicate, true, 'the retry is a duplicate');
    t.same(again.events.map((e) => [e.id, e.offset, e.createdMs]), once.events.map((e) => [e.id, e.offset, e.createdMs]), 'answered with the original id, offset and time');
    const page = await b.read({ streamName: 'orders', fromOffset: 0, maxEvents: 100, maxBytes: 1 << 20, consumer: 'default' });
    t.same(page.events.map((e) => JSON.parse(e.payload.toString())), [{ n: 0 }, { n: 1 }], 'stored once');
  });

  t.test('keys: versions from 0, expected versions checked, type and metadata kept', async (t) => {
    const v0 = await a.append('orders', [{ payload: body('created'), type: 'OrderCreated', metadata: body({ by: 'ann' }) }], { key: 'order-1', expectedVersion: 'no_stream' });
    t.equal(v0.events[0]!.version, 0);
    const v1 = await b.append('orders', [{ payload: body('paid') }], { key: 'order-1', expectedVersion: 0 });
    t.equal(v1.events[0]!.version, 1);
    await t.rejects(a.append('orders', [{ payload: body('late') }], { key: 'order-1', expectedVersion: 0 }), { code: 'WRONG_EXPECTED_VERSION', context: { expected: 0, actual: 1 } });
    await t.rejects(a.append('orders', [{ payload: body('x') }], { key: 'order-2', expectedVersion: 'stream_exists' }), { code: 'WRONG_EXPECTED_VERSION', context: { expected: 'stream_exists', actual: -1 } });
    const read = await b.read({ streamName: 'orders', fromOffset: v0.events[0]!.offset, maxEvents: 2, maxBytes: 1 << 20, consumer: 'default' });
    t.match(read.events[0]!.attributes, { key: 'order-1', version: 0, type: 'OrderCreated' }, 'reads carry key, version and type');
    t.equal(read.events[0]!.attributes?.metadata?.toString(), '{"by":"ann"}', 'and the metadata as written');
    t.match(read.events[1]!.attributes, { key: 'order-1', version: 1 });
    const other = await a.append('orders', [{ payload: body('other') }], { key: 'ünï.*>💥' });
    t.equal(other.events[0]!.version, 0, 'any UTF-8 key has versions of its own');
    // A retry of a write that landed, after the version moved on: answered, not refused.
    const withId = await a.append('orders', [{ payload: body('shipped'), msgId: 'ship-1' }], { key: 'order-1', expectedVersion: 1 });
    const retried = await b.append('orders', [{ payload: body('shipped'), msgId: 'ship-1' }], { key: 'order-1', expectedVersion: 1 });
    t.equal(retried.duplicate, true);
    t.same(retried.events[0], withId.events[0]);
    const shipped = await a.read({ streamName: 'orders', fromOffset: withId.events[0]!.offset, maxEvents: 1, maxBytes: 1 << 20, consumer: 'default' });
    t.equal(shipped.events[0]!.attributes?.msgId, 'ship-1', 'the client\'s msg_id is read back');
  });

  t.test('pipelined writes are stored in the order they were made, also across leader elections', async (t) => {
    await a.createStream('ordered');
    const nc = await connect({ servers: cluster.servers });
    t.teardown(() => nc.close());
    const jsm = await nc.jetstreamManager();
    let jsName = '';
    for await (const name of jsm.streams.names()) if ((await jsm.streams.info(name)).config.description === "eventbus stream 'ordered'") jsName = name;
    t.ok(jsName !== '', 'found the JetStream stream');
    // Two "connections" (interleaved callers) with up to 32 writes in flight each, for 4 s, with the
    // stream's leader stepping down twice meanwhile: publishes fail (no responders, timeouts) and
    // are retried while later ones are in flight.
    const results: Array<{ who: number; i: number; offset: Promise<number> }> = [];
    const inFlight = [0, 0];
    const counters = [0, 0];
    const startMs = Date.now();
    const stepDowns = [1000, 2500].map((atMs) =>
      new Promise((r) => setTimeout(r, atMs)).then(() => nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${jsName}`, new Uint8Array(), { timeout: 5000 }).catch(() => null)),
    );
    while (Date.now() - startMs < 4000) {
      for (const who of [0, 1]) {
        while (inFlight[who]! < 32) {
          const i = counters[who]!++;
          inFlight[who]! += 1;
          const offset = a.append('ordered', [{ payload: body({ who, i }) }], {}).then((r) => r.events[0]!.offset);
          void offset.then(() => (inFlight[who]! -= 1), () => (inFlight[who]! -= 1));
          results.push({ who, i, offset });
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(stepDowns);
    const offsets = await Promise.all(results.map((r) => r.offset));
    t.same(offsets, offsets.map((_, k) => k), `${offsets.length} writes stored at offsets in call order`);
    // Paged to the end: a page may hold fewer than asked (a reader's fetch that expires on a
    // loaded machine ends it early), and says where the next one starts.
    const stored: unknown[] = [];
    for (let from = 0, pages = 0; pages < 100; pages++) {
      const page = await a.read({ streamName: 'ordered', fromOffset: from, maxEvents: 10_000, maxBytes: 64 << 20, consumer: 'default' });
      stored.push(...page.events.map((e) => JSON.parse(e.payload.toString()) as unknown));
      if (page.atEnd) break;
      from = page.nextOffset;
    }
    t.same(stored, results.map(({ who, i }) => ({ who, i })), 'and read back in that order, each once');
  });

  t.test('writes go to the stream leader\'s node, and follow it after a leader change', async (t) => {
    await a.createStream('placed');
    const nc = await connect({ servers: cluster.servers });
    t.teardown(() => nc.close());
    const jsm = await nc.jetstreamManager();
    const jsName = await jsNameOfStream(jsm, 'placed');
    const affinity = (a as unknown as { affinity: { placed: { publisher: unknown; serverName(): string | undefined }[]; pick(name: string): unknown } }).affinity;
    t.equal(new Set(affinity.placed.map((p) => p.serverName())).size, 3, 'a publishing connection on each of the 3 nodes');
    const nodeOfNextLane = () => {
      const picked = affinity.pick('placed');
      return affinity.placed.find((p) => p.publisher === picked)?.serverName();
    };
    const leaderNow = async () => (await jsm.streams.info(jsName)).cluster?.leader;
    // The gateway learns the leader by a stream-info request of its own after a write: wait for
    // it (up to 5 s on a loaded machine) rather than a fixed time.
    const laneNodeOnceOn = async (leader: string | undefined) => {
      for (let i = 0; i < 50 && nodeOfNextLane() !== leader; i++) await new Promise((r) => setTimeout(r, 100));
      return nodeOfNextLane();
    };
    let written = 0;
    const write = async () => (await a.append('placed', [{ payload: body(written++) }], {})).events[0]!.offset;
    await write();
    const first = await leaderNow();
    t.equal(await laneNodeOnceOn(first), first, `a new lane goes to the leader, ${String(first)}`);
    await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${jsName}`, new Uint8Array(), { timeout: 5000 });
    let second = first;
    for (let i = 0; i < 100 && (second === first || second === undefined); i++) {
      await new Promise((r) => setTimeout(r, 100));
      second = await leaderNow().catch(() => undefined);
    }
    t.not(second, first, `the leader moved to ${String(second)}`);
    const offsets: number[] = [];
    const untilMs = Date.now() + LEADER_TTL_MS + 500;
    while (Date.now() < untilMs) offsets.push(await write());
    t.same(offsets, offsets.map((_, k) => k + 1), 'writes went on through the change, in order');
    await write();
    t.equal(await laneNodeOnceOn(second), second, 'and lanes follow the new leader once it is read again');
  });

  t.test('backward pages across several read windows, cut by count and by bytes', async (t) => {
    await a.createStream('back');
    for (let i = 0; i < 120; i++) await a.append('back', [{ payload: body({ i, pad: 'x'.repeat(90) }) }], i % 2 === 0 ? { key: 'even' } : {});
    const read = (extra: Record<string, unknown>) => a.read({ streamName: 'back', fromOffset: 0, maxEvents: 100, maxBytes: 1 << 20, consumer: 'default', ...extra });
    const page = await read({ direction: 'backward', fromEnd: true });
    t.same(page.events.map((e) => e.offset), Array.from({ length: 100 }, (_, k) => 119 - k), '100 newest first');
    t.same([page.nextOffset, page.atEnd], [19, false]);
    const small = await read({ direction: 'backward', fromOffset: 60, maxBytes: 350 });
    t.same(small.events.map((e) => e.offset), [60, 59, 58], 'cut at max bytes (about 110 bytes each)');
    const key = await read({ direction: 'backward', fromEnd: true, key: 'even', maxEvents: 40 });
    t.same(key.events.map((e) => e.attributes?.version), Array.from({ length: 40 }, (_, k) => 59 - k), 'a key backward: versions 59 down to 20');
    t.same([key.nextVersion, key.atEnd], [19, false]);
    const rest = await read({ direction: 'backward', key: 'even', fromVersion: 19 });
    t.same(rest.events.map((e) => e.attributes?.version), Array.from({ length: 20 }, (_, k) => 19 - k));
    t.same([rest.nextVersion, rest.atEnd], [-1, true]);
  });

  t.test('readers are placed on the stream leader\'s node; where none can be, a page is got from the leader alike', async (t) => {
    await a.createStream('on-leader');
    for (let i = 0; i < 150; i++) await a.append('on-leader', [{ payload: body({ i }), type: i % 3 === 0 ? 'tri' : 'other' }], i % 2 === 0 ? { key: 'even' } : {});
    const nc = await connect({ servers: cluster.servers });
    t.teardown(() => nc.close());
    const jsm = await nc.jetstreamManager();
    const jsName = await jsNameOfStream(jsm, 'on-leader');
    const leader = (await jsm.streams.info(jsName)).cluster?.leader;
    t.ok(leader !== undefined, `the stream has a leader (${leader})`);
    // nats-server places a one-replica consumer on any replica (checked: 6, 5 and 1 of 12), so a
    // reader lands on the leader's node within READER_PLACEMENT_TRIES tries with 3 replicas in
    // 96 % of cases. 8 of 12 or more: fails 98 % of the time with one try (1 in 3 lands there),
    // passes but once in 10,000 runs with the retries.
    let onLeader = 0;
    for (let i = 0; i < 12; i++) {
      const placed = await addReaderOnLeader(jsm, jsName, { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, mem_storage: true, num_replicas: 1 }, leader);
      const node = (await jsm.consumers.info(jsName, placed.name)).cluster?.leader;
      t.equal(node === leader, placed.onLeader, `reader ${i + 1} says truly where it is (${node})`);
      if (placed.onLeader) onLeader += 1;
      await jsm.consumers.delete(jsName, placed.name);
    }
    t.ok(onLeader >= 8, `readers on the leader's node: ${onLeader} of 12`);

    const queries: Record<string, unknown>[] = [
      { fromOffset: 0 }, { fromOffset: 70, maxEvents: 30 }, { fromOffset: 0, maxBytes: 100 }, { direction: 'backward', fromEnd: true },
      { direction: 'backward', fromOffset: 90, maxEvents: 25 }, { key: 'even', fromVersion: 10, maxEvents: 20 }, { key: 'even', direction: 'backward', fromEnd: true }, { key: 'even', direction: 'backward', fromOffset: 77, maxEvents: 5 },
      { types: ['tri'], fromOffset: 5, maxEvents: 10 },
    ];
    const read = (extra: Record<string, unknown>) => a.read({ streamName: 'on-leader', fromOffset: 0, maxEvents: 100, maxBytes: 1 << 20, consumer: 'default', ...extra });
    const expected = [];
    for (const q of queries) expected.push(await read(q));
    // No reader lands on the leader's node: the leader named is one that does not exist.
    const inner = a as unknown as { state(entry: unknown): Promise<{ leader?: string }> };
    const realState = inner.state.bind(a);
    inner.state = async (entry) => ({ ...(await realState(entry)), leader: 'no-such-node' });
    t.teardown(() => void (inner.state = realState));
    let gets = 0;
    const realGet = a['jsm'].streams.getMessage.bind(a['jsm'].streams);
    a['jsm'].streams.getMessage = (...args: Parameters<typeof realGet>) => {
      gets += 1;
      return realGet(...args);
    };
    t.teardown(() => void (a['jsm'].streams.getMessage = realGet));
    for (const [i, q] of queries.entries()) {
      const page = await read(q);
      t.same(page, expected[i], `the same page from the leader: ${JSON.stringify(q)}`);
    }
    t.ok(gets >= 150, `and it was got from the leader (${gets} gets)`);
  });

  t.test('8 writers racing on one key and version: exactly one wins each round, versions gap-free', async (t) => {
    const stores = [a, b];
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, w) => stores[w % 2]!.append('orders', [{ payload: body({ round, w }) }], { key: 'race', expectedVersion: round === 0 ? 'no_stream' : round - 1 })),
      );
      const wins = results.filter((r) => r.status === 'fulfilled');
      t.equal(wins.length, 1, `round ${round}: one winner`);
      t.equal((wins[0] as PromiseFulfilledResult<{ events: { version?: number }[] }>).value.events[0]!.version, round);
      for (const r of results) if (r.status === 'rejected') t.equal((r.reason as { code: string }).code, 'WRONG_EXPECTED_VERSION');
    }
  });

  t.test('expected_version without a key: the stream\'s last offset', async (t) => {
    const info = await a.streamInfo('orders');
    await t.rejects(a.append('orders', [{ payload: body('no') }], { expectedVersion: info.nextOffset }), { code: 'WRONG_EXPECTED_VERSION', context: { expected: info.nextOffset, actual: info.nextOffset - 1 } });
    const ok = await b.append('orders', [{ payload: body('yes') }], { expectedVersion: info.nextOffset - 1 });
    t.equal(ok.events[0]!.offset, info.nextOffset);
  });

  t.test('several events in one append are refused, nothing written', async (t) => {
    const before = (await a.streamInfo('orders')).nextOffset;
    await t.rejects(a.append('orders', [{ payload: body(1) }, { payload: body(2) }], { key: 'k' }), { code: 'NOT_SUPPORTED' });
    t.equal((await a.streamInfo('orders')).nextOffset, before);
  });

  t.test('two gateways share consumers: nothing delivered twice as new', async (t) => {
    await a.createStream('shared');
    for (let i = 0; i < 200; i++) await (i % 2 === 0 ? a : b).append('shared', [{ payload: body(i) }], {});
    const seen = new Map<number, number>();
    for (let round = 0; round < 20; round++) {
      const [x, y] = await Promise.all([a.consume('shared', 'workers', { maxEvents: 17, autoAck: false }), b.consume('shared', 'workers', { maxEvents: 13, autoAck: false })]);
      for (const e of [...x.events, ...y.events]) seen.set(e.offset, (seen.get(e.offset) ?? 0) + 1);
      // Marks through the other gateway (rebuilt ack subjects).
      if (x.events.length > 0) await b.mark('workers', x.events.map((e) => e.id), 1);
      if (y.events.length > 0) await a.mark('workers', y.events.map((e) => e.id), 1);
    }
    t.equal(seen.size, 200, 'every event delivered');
    t.same([...seen].filter(([, n]) => n > 1), [], 'none twice');
    const info = await b.streamInfo('shared');
    t.match(info.consumers, [{ name: 'workers', cursor: 200, ackFloor: 200, pending: 0, lag: 0 }]);
    await t.rejects(a.mark('workers', ['00000000-0000-4000-8000-000000000000'], 1), { code: 'EVENT_NOT_FOUND' });
  });

  t.test('marks of events a gateway delivered and holds: confirmed, and refused where any mark is', async (t) => {
    const nc = await connect({ servers: cluster.servers });
    t.teardown(() => nc.close());
    const jsm = await nc.jetstreamManager();
    await a.createStream('held');
    for (let i = 0; i < 6; i++) await a.append('held', [{ payload: body(i) }], {});
    const first = await a.consume('held', 'w', { maxEvents: 3, autoAck: false });
    t.equal(first.events.length, 3);
    await a.mark('w', [...first.events.map((e) => e.id), first.events[0]!.id], 1);
    t.match((await b.streamInfo('held')).consumers, [{ name: 'w', ackFloor: 3, pending: 0 }], 'processed (an id given twice too): the cluster has the acks');
    await a.mark('w', first.events.map((e) => e.id), 1);
    await t.rejects(a.mark('w', [first.events[0]!.id], 0), { code: 'EVENT_ACKNOWLEDGED' }, 'no longer held: checked as any mark');
    const second = await a.consume('held', 'w', { maxEvents: 3, autoAck: false });
    t.equal(second.events.length, 3);
    // The durable deleted behind the gateway's back (an operator): the held events' acks find no
    // consumer, and the mark is refused as the checks refuse it.
    const jsName = await jsNameOfStream(jsm, 'held');
    await jsm.consumers.delete(jsName, jsConsumerName('w'));
    await t.rejects(a.mark('w', [second.events[0]!.id], 1), { code: 'EVENT_NOT_DELIVERED' }, 'consumer gone');
    // The stream deleted through the other gateway while a's catalog still has it cached.
    const third = await a.consume('held', 'v', { maxEvents: 2, autoAck: false });
    t.equal(third.events.length, 2);
    await b.deleteStream('held');
    await t.rejects(a.mark('v', third.events.map((e) => e.id), 1), { code: 'EVENT_NOT_FOUND' }, 'stream gone');
  });

  t.test('a stream deleted and created again through another gateway: the next answer knows', async (t) => {
    await a.createStream('again');
    await a.append('again', [{ payload: body('old') }], {});
    t.equal((await a.streamInfo('again')).eventCount, 1, 'gateway a has it cached');
    await b.deleteStream('again');
    await t.rejects(a.streamInfo('again'), { code: 'STREAM_NOT_FOUND' }, 'deleted: gone for a at once');
    await a.createStream('again').then(() => b.deleteStream('again'));
    await b.createStream('again');
    const written = await a.append('again', [{ payload: body('new') }], {});
    t.equal(written.events[0]!.offset, 0, 'a writes into the new stream');
    const page = await a.read({ streamName: 'again', fromOffset: 0, maxEvents: 10, maxBytes: 1 << 20, consumer: 'default' });
    t.same(page.events.map((e) => JSON.parse(e.payload.toString())), ['new']);
  });

  t.test('a create stopped between the catalog and JetStream is completed on first use', async (t) => {
    const nc = await connect({ servers: cluster.servers });
    t.teardown(() => nc.close());
    const jsm = await nc.jetstreamManager();
    const jsNameOf = async (name: string) => {
      for await (const js of jsm.streams.names()) if ((await jsm.streams.info(js)).config.description === `eventbus stream '${name}'`) return js;
      throw new Error(`no JetStream stream for ${name}`);
    };
    // The state a gateway killed after the catalog entry and before streams.add leaves behind.
    for (const name of ['half-write', 'half-info', 'half-consume', 'half-keyed']) {
      await a.createStream(name);
      await jsm.streams.delete(await jsNameOf(name));
    }
    await t.rejects(b.createStream('half-write'), { code: 'STREAM_EXISTS' }, 'the name is taken');
    t.equal((await b.append('half-write', [{ payload: body('first') }], {})).events[0]!.offset, 0, 'a write completes it');
    t.match(await b.streamInfo('half-info'), { name: 'half-info', eventCount: 0, nextOffset: 0 }, 'stream info completes it');
    t.same((await b.consume('half-consume', 'w', { maxEvents: 10, autoAck: false })).events, [], 'a consumer completes it');
    t.equal((await b.append('half-keyed', [{ payload: body('k') }], { key: 'k', expectedVersion: 'no_stream' })).events[0]!.version, 0, 'a keyed write completes it');
    const page = await a.read({ streamName: 'half-write', fromOffset: 0, maxEvents: 10, maxBytes: 1 << 20, consumer: 'default' });
    t.same(page.events.map((e) => JSON.parse(e.payload.toString()) as unknown), ['first']);
    await a.deleteStream('half-write');
    await t.rejects(a.append('half-write', [{ payload: body('gone') }], {}), { code: 'STREAM_NOT_FOUND' }, 'a deleted stream is not brought back');
  });

  t.test('the watchdog moves fetches to a new connection when they stall', async (t) => {
    const c = await JetStreamStore.open({ servers: cluster.servers, consumers: { ackWaitMs: 2000 } });
    t.teardown(() => c.close());
    await c.createStream('stall');
    for (let i = 0; i < 30; i++) await c.append('stall', [{ payload: body(i) }], {});
    const first = await c.consume('stall', 'w', { maxEvents: 10, autoAck: false });
    t.equal(first.events.length, 10);
    await c.mark('w', first.events.map((e) => e.id), 1);
    // The fetch connection stops hearing the cluster (its socket no longer read): fetches get no
    // answer while 20 events wait. The client's own ping check would notice only after two
    // missed pings (10 s or more). What the cluster sent to the deaf connection comes back after
    // the ack deadline (2 s here).
    const consumers = (c as unknown as { consumers: { fetcher: { nc: { protocol: { transport: { socket: { pause(): void } } } } }; fetchConnectionsReplaced: number } }).consumers;
    consumers.fetcher.nc.protocol.transport.socket.pause();
    const startMs = Date.now();
    const seen: number[] = [];
    let firstMs = 0;
    while (seen.length < 20 && Date.now() - startMs < 30_000) {
      const { events } = await c.consume('stall', 'w', { maxEvents: 10, waitMs: 200, autoAck: false });
      if (events.length > 0 && firstMs === 0) firstMs = Date.now() - startMs;
      seen.push(...events.map((e) => e.offset));
      if (events.length > 0) await c.mark('w', events.map((e) => e.id), 1);
    }
    t.same([...seen].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => 10 + i), 'every waiting event is delivered once');
    // At least one: a second stall on a loaded machine may replace it again.
    t.ok(consumers.fetchConnectionsReplaced >= 1, `over a new connection (${consumers.fetchConnectionsReplaced} replaced)`);
    t.ok(firstMs > 0 && firstMs < 9000, `the first within the watchdog's time, before the ping check (${firstMs} ms)`);
  });

  t.test('read-your-writes: a poll right after writes through the same gateway gets them', async (t) => {
    const c = await JetStreamStore.open({ servers: cluster.servers });
    t.teardown(() => c.close());
    await c.createStream('ryw');
    for (let round = 0; round < 4; round++) {
      await c.append('ryw', [{ payload: body(round) }], {});
      const { events } = await c.consume('ryw', `fresh-${round}`, { maxEvents: 100, autoAck: false });
      t.equal(events.length, round + 1, `a consumer created after ${round + 1} writes gets them all at once`);
    }
    // A consumer's leader can be the replica the quorum did not wait for: its no_wait fetch finds
    // nothing. Simulated: the next no_wait fetch comes back empty.
    const inner = (c as unknown as { consumers: { fetchOnce(...args: unknown[]): Promise<unknown[]> } }).consumers;
    const real = inner.fetchOnce.bind(inner);
    let lagging = 0;
    let short = 0;
    let fetches = 0;
    /** Messages each fetch since `fetches` was last reset returned. */
    let got: number[] = [];
    const fetchOnce = (...args: unknown[]) => {
      const options = args[3] as { no_wait?: boolean; batch: number };
      if (options.no_wait === true && lagging > 0) {
        lagging -= 1;
        return Promise.resolve([]);
      }
      // The replica has the first of the writes only: one message, however many were asked.
      if (options.no_wait === true && short > 0) {
        short -= 1;
        return real(...args.slice(0, 3), { ...options, batch: 1 });
      }
      return real(...args);
    };
    inner.fetchOnce = async (...args: unknown[]) => {
      if (fetches === 0) got = [];
      fetches += 1;
      const messages = await fetchOnce(...args);
      got.push(messages.length);
      return messages;
    };
    await c.consume('ryw', 'lagging', { maxEvents: 4, autoAck: false });
    await c.append('ryw', [{ payload: body('late') }], {});
    lagging = 1;
    const { events } = await c.consume('ryw', 'lagging', { maxEvents: 100, autoAck: false });
    t.same(events.map((e) => e.offset), [4], 'the poll waits for what was acknowledged');
    fetches = 0;
    t.same((await c.consume('ryw', 'lagging', { maxEvents: 100, autoAck: false })).events, [], 'then nothing is left');
    t.equal(fetches, 1, 'and an empty poll with nothing newly written is one fetch, no wait');

    // A key's consumer waits only for writes of its key.
    await c.append('ryw', [{ payload: body('k') }], { key: 'k' });
    t.same((await c.consume('ryw', 'keyed', { maxEvents: 100, autoAck: false, filter: { key: 'k' } })).events.map((e) => e.offset), [5]);
    await c.append('ryw', [{ payload: body('other') }], { key: 'other' });
    lagging = 1;
    fetches = 0;
    t.same((await c.consume('ryw', 'keyed', { maxEvents: 100, autoAck: false })).events, [], 'another key\'s write is not for it');
    t.equal(fetches, 1, 'and the poll does not wait for it: one fetch');
    await c.append('ryw', [{ payload: body('k2') }], { key: 'k' });
    lagging = 1;
    t.same((await c.consume('ryw', 'keyed', { maxEvents: 100, autoAck: false })).events.map((e) => e.offset), [7], 'its own key\'s write is waited for');

    // A page that stops short of what was acknowledged (a CI run's "new" consumer got one of two).
    t.equal((await c.consume('ryw', 'short', { maxEvents: 100, autoAck: false })).events.length, 8);
    await c.append('ryw', [{ payload: body('s1') }], {});
    await c.append('ryw', [{ payload: body('s2') }], {});
    short = 1;
    t.same((await c.consume('ryw', 'short', { maxEvents: 100, autoAck: false })).events.map((e) => e.offset), [8, 9], 'a short page goes on to what was acknowledged');
    short = 1;
    fetches = 0;
    await c.append('ryw', [{ payload: body('s3') }], {});
    t.same((await c.consume('ryw', 'short', { maxEvents: 100, autoAck: false })).events.map((e) => e.offset), [10], 'a page that reached it does not wait');
    // On a loaded machine the consumer's replica may not have the write yet (a real lag, rightly
    // waited for: seen once in a run beside two other suites); a first fetch that got it is all.
    if (got[0] === 1) t.equal(fetches, 1, 'and is one fetch');
    else t.comment(`the consumer's replica lagged (fetches returned ${JSON.stringify(got)}): the wait was right`);
  });

  t.test('a new consumer\'s creation is asked again when the cluster does not answer in time', async (t) => {
    const c = await JetStreamStore.open({ servers: cluster.servers });
    t.teardown(() => c.close());
    await c.createStream('slow-meta');
    await c.append('slow-meta', [{ payload: body('x') }], {});
    // The consumer info request times out twice (seen once in a benchmark run under load).
    const api = (c as unknown as { consumers: { jsm: { consumers: { info(...args: unknown[]): Promise<unknown> } } } }).consumers.jsm.consumers;
    const real = api.info.bind(api);
    let timeouts = 2;
    api.info = (...args: unknown[]) => {
      if (timeouts > 0) {
        timeouts -= 1;
        return Promise.reject(Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' }));
      }
      return real(...args);
    };
    const { events } = await c.consume('slow-meta', 'w', { maxEvents: 10, autoAck: false });
    t.equal(timeouts, 0, 'both timeouts were met');
    t.same(events.map((e) => e.offset), [0], 'and the consumer was made and delivered');
    api.info = () => Promise.reject(Object.assign(new Error('bad request'), { api_error: { err_code: 10052, description: 'bad request' } }));
    await t.rejects(c.consume('slow-meta', 'other', { maxEvents: 10, autoAck: false }), { code: 'BACKEND_UNAVAILABLE' }, 'a failure a retry cannot cure is answered at once');
  });

  t.test('a types filter: other types are passed over (acknowledged); a long-poll waits for its type', async (t) => {
    const c = await JetStreamStore.open({ servers: cluster.servers });
    t.teardown(() => c.close());
    await c.createStream('typed');
    await c.append('typed', [{ payload: body(0), type: 'other' }], {});
    t.same((await c.consume('typed', 'w', { maxEvents: 10, autoAck: false, filter: { types: ['want'] } })).events, []);
    const startMs = Date.now();
    const polled = c.consume('typed', 'w', { maxEvents: 10, autoAck: false, waitMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    await c.append('typed', [{ payload: body(1), type: 'other' }], {});
    await new Promise((r) => setTimeout(r, 300));
    await c.append('typed', [{ payload: body(2), type: 'want' }], {});
    const { events } = await polled;
    t.same(events.map((e) => e.offset), [2], 'the long-poll went on past the other type\'s event');
    t.ok(Date.now() - startMs < 4000, `and answered when its type came (${Date.now() - startMs} ms)`);
    await c.mark('w', events.map((e) => e.id), 1);
    let consumer = (await c.streamInfo('typed')).consumers[0]!;
    for (let i = 0; i < 50 && consumer.ackFloor < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      consumer = (await c.streamInfo('typed')).consumers[0]!;
    }
    t.match(consumer, { name: 'w', ackFloor: 3, pending: 0, retry: 0, filter: { types: ['want'] } }, 'the passed-over events are acknowledged, never pending');

    // Past 16 pages of other types a call answers empty, saying there is more; the next goes on.
    for (let i = 0; i < 20; i++) await c.append('typed', [{ payload: body(i), type: 'other' }], {});
    await c.append('typed', [{ payload: body('last'), type: 'want' }], {});
    const first = await c.consume('typed', 'w', { maxEvents: 1, autoAck: false });
    t.same(first, { events: [], more: true });
    t.same((await c.consume('typed', 'w', { maxEvents: 1, autoAck: false })).events.map((e) => e.offset), [23]);
  });

  t.test('dead letters after max_deliveries, counted per consumer', async (t) => {
    const c = await JetStreamStore.open({ servers: cluster.servers, consumers: { maxDeliveries: 1, ackWaitMs: 300 } });
    t.teardown(() => c.close());
    await c.createStream('dl');
    await c.append('dl', [{ payload: body('poison') }], {});
    const first = await c.consume('dl', 'w', { maxEvents: 10, autoAck: false });
    t.equal(first.events.length, 1);
    await c.mark('w', [first.events[0]!.id], 0);
    // The nak reaches the consumer's leader asynchronously: ask until the redelivery has come
    // (and been dead-lettered instead of delivered).
    let dead = false;
    for (let i = 0; i < 50 && !dead; i++) {
      const second = await c.consume('dl', 'w', { maxEvents: 10, autoAck: false });
      t.same(second.events, [], 'past max_deliveries: not delivered');
      dead = (await c.streamInfo('dl')).consumers[0]!.deadLettered === 1;
      if (!dead) await new Promise((r) => setTimeout(r, 100));
    }
    const dlq = await c.read({ streamName: '$dlq:dl', fromOffset: 0, maxEvents: 10, maxBytes: 1 << 20, consumer: 'default' });
    t.match(JSON.parse(dlq.events[0]!.payload.toString()), { stream: 'dl', offset: 0, consumer: 'w', body: 'poison' });
    t.match((await c.streamInfo('dl')).consumers, [{ name: 'w', deadLettered: 1 }]);
  });
});

t.test('a node down when the gateway started: once back and leading a stream, the gateway connects to it', natsSkip(), async (t) => {
  // A cluster of its own, empty: a node that comes back catches up on every stream it missed
  // before it reports healthy, which on the shared one (dozens of streams) took over 30 s in CI.
  const cluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  await cluster.kill(2);
  const down = cluster.nodes[2]!.name;
  const d = await JetStreamStore.open({ servers: cluster.servers });
  t.teardown(() => d.close());
  const affinity = (d as unknown as { affinity: { placed: { publisher: unknown; serverName(): string | undefined }[]; pick(name: string): unknown } }).affinity;
  t.notOk(affinity.placed.some((p) => p.serverName() === down), `no publishing connection on ${down} while it is down`);
  await cluster.restart(2);
  await cluster.waitForMetaLeader();
  const nc = await connect({ servers: cluster.servers });
  t.teardown(() => nc.close());
  const jsm = await nc.jetstreamManager();
  // Streams are placed with a random leader: make some until one is led by the node that came back.
  let name = '';
  for (let i = 0; i < 30 && name === ''; i++) {
    await d.createStream(`back-${i}`);
    if ((await jsm.streams.info(await jsNameOfStream(jsm, `back-${i}`))).cluster?.leader === down) name = `back-${i}`;
  }
  t.not(name, '', `a stream led by ${down}`);
  const nodeOfNextLane = () => {
    const picked = affinity.pick(name);
    return affinity.placed.find((p) => p.publisher === picked)?.serverName();
  };
  let node: string | undefined;
  for (let i = 0; i < 50 && node !== down; i++) {
    await d.append(name, [{ payload: body(i) }], {});
    await new Promise((r) => setTimeout(r, 100));
    node = nodeOfNextLane();
  }
  t.equal(node, down, 'its writes go to it');
});
