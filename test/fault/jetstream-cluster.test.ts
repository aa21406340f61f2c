/**
 * Faults on the jetstream backend (issue 16): writers and consumers at load through two real
 * gateway processes (`eventbus serve --backend jetstream`) behind a round-robin TCP balancer, on a
 * real 3-node nats-server cluster. Each cycle kill -9s one NATS node and brings it back, then
 * kill -9s a gateway and starts another in its place. Checked at the end:
 *
 * - no acknowledged write lost or duplicated: every acknowledged body is stored exactly once, at
 *   the offset its acknowledgement named (and no body at all is stored twice);
 * - never twice as new: no event is delivered with delivery_count 1 twice;
 * - every mark in effect: an event acknowledged (mark 1 answered OK) is never delivered by a
 *   process_events sent after that answer;
 *   except, for both, what JetStream 2.9 itself loses: a consumer leader answers deliveries and
 *   acks before its Raft peers have them, so when the node leading the consumer is killed, what it
 *   confirmed in its last moments comes back (docs/protocol.md, "The jetstream backend"). Such a
 *   repeat is accepted only when a node was killed between the first delivery (or the mark's
 *   answer) and the repeat, within FAILOVER_WINDOW_MS after the first; every one is printed, and
 *   they must stay rare;
 * - no consumer stuck: after the faults the consumers drain everything (lag 0, nothing pending).
 *
 * `npm test` runs 2 cycles; `npm run test:long` (EVENTBUS_LONG=1) runs 100, or
 * EVENTBUS_JETSTREAM_CYCLES. Skips, saying how to install it, without Debian's nats-server.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { natsSkip, startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { startBalancer, type Balancer } from '../helpers/tcp-balancer.js';
import { tempDir } from '../helpers/temp-dir.js';

const long = process.env.EVENTBUS_LONG === '1';
const cycles = Number(process.env.EVENTBUS_JETSTREAM_CYCLES ?? (long ? 100 : 2));
t.setTimeout((long ? 4 * 3600 : 600) * 1000); // 600 s: room for a loaded machine

const STREAM = 'faults';
const WRITERS = 4;
const CONSUMERS = 2;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long before a node's kill a consumer leader's confirmation may still be unreplicated (a loaded 2-core machine). */
const FAILOVER_WINDOW_MS = 3000;

interface Delivered { offset: number; count: number; sentMs: number }

t.test(`jetstream faults: ${cycles} cycles of kill -9 of a NATS node and of a gateway`, natsSkip(), async (t) => {
  const cluster: NatsCluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  const home = tempDir(t, 'eventbus-jsfault-');
  const config = path.join(home, 'config.yaml');
  // Short ack deadline: deliveries held by a killed gateway come back quickly.
  writeFileSync(config, `backend:\n  type: jetstream\n  servers: ${cluster.servers.join(',')}\nconsumers:\n  ack_wait_ms: 2000\n  max_deliveries: 0\n`);
  const gateways: ServerProcess[] = [];
  const startGatewayProcess = () => startServerProcess({ args: ['--config', config], cwd: home, timeoutMs: 60_000 });
  t.teardown(async () => {
    for (const g of gateways) await g.stop('SIGKILL');
  });
  gateways.push(await startGatewayProcess(), await startGatewayProcess());
  const balancer: Balancer = await startBalancer(gateways.map((g) => g.port));
  t.teardown(() => balancer.close());
  const connect = () => EventBusClient.connect({ port: balancer.port, requestTimeoutMs: 60_000 });
  const admin = await connect();
  await admin.createStream(STREAM);
  await admin.close();

  let running = true;
  const acked = new Map<string, number>(); // body token → acknowledged offset
  let writeErrors = 0;
  const writer = async (w: number) => {
    let client = await connect();
    for (let i = 0; running; i++) {
      try {
        const written = await client.writeEvent(STREAM, { w, i });
        acked.set(`${w}:${i}`, written.offset);
      } catch {
        writeErrors += 1; // outcome unknown: a new body next, never a blind retry of this one
        await client.close().catch(() => {});
        await sleep(100);
        client = await connect().catch(() => client);
      }
    }
    await client.close().catch(() => {});
  };
  const deliveries: Delivered[] = [];
  const markedAtMs = new Map<number, number>(); // offset → when its mark 1 was answered OK
  const consumer = async () => {
    let client = await connect();
    while (running || draining) {
      try {
        const sentMs = Date.now();
        const { events } = await client.processEvents(STREAM, { maxEvents: 50, waitMs: 200 });
        for (const e of events) deliveries.push({ offset: e.offset, count: e.deliveryCount, sentMs });
        if (events.length > 0) {
          await client.markEvent(events.map((e) => e.id), 1);
          const now = Date.now();
          for (const e of events) if (!markedAtMs.has(e.offset)) markedAtMs.set(e.offset, now);
        }
      } catch {
        await client.close().catch(() => {});
        await sleep(100);
        client = await connect().catch(() => client);
      }
    }
    await client.close().catch(() => {});
  };
  let draining = true;
  const killedAtMs: number[] = [];
  const loops = [...Array.from({ length: WRITERS }, (_, w) => writer(w)), ...Array.from({ length: CONSUMERS }, () => consumer())];

  for (let cycle = 0; cycle < cycles; cycle++) {
    await sleep(1500);
    const node = cycle % cluster.nodes.length;
    killedAtMs.push(Date.now());
    await cluster.kill(node);
    await sleep(2000);
    await cluster.restart(node);
    await sleep(1000);
    const victim = gateways.shift()!;
    await victim.stop('SIGKILL');
    const replacement = await startGatewayProcess();
    gateways.push(replacement);
    balancer.setPorts(gateways.map((g) => g.port));
    t.comment(`cycle ${cycle + 1}: killed node n${node + 1} and a gateway; acked ${acked.size}, deliveries ${deliveries.length}, write errors ${writeErrors}`);
  }
  running = false;

  // No consumer stuck: everything written is acknowledged by the consumers within the limit.
  const check = await connect();
  const drainDeadline = Date.now() + 90_000;
  let info = await check.getStreamInfo(STREAM);
  while (Date.now() < drainDeadline) {
    info = await check.getStreamInfo(STREAM);
    const c = info.consumers.find((x) => x.name === 'default');
    if (c !== undefined && c.ackFloor >= info.nextOffset && c.lag === 0) break;
    await sleep(500);
  }
  draining = false;
  await Promise.all(loops);
  const state = info.consumers.find((x) => x.name === 'default');
  t.ok(state !== undefined && state.ackFloor >= info.nextOffset && state.lag === 0, 'no consumer stuck: the consumers drained everything', { info });

  // Every stored body, read back in pages.
  const stored = new Map<string, number[]>();
  for (let from = 0; ; ) {
    const page = await check.getStreamEvents<{ w: number; i: number }>(STREAM, { fromOffset: from, maxEvents: 1000 });
    if (page.events.length === 0) break;
    for (const e of page.events) {
      const token = `${e.body.w}:${e.body.i}`;
      stored.set(token, [...(stored.get(token) ?? []), e.offset]);
    }
    from = page.nextOffset;
  }
  await check.close();
  const lost = [...acked].filter(([token]) => !stored.has(token));
  const misplaced = [...acked].filter(([token, offset]) => stored.has(token) && stored.get(token)![0] !== offset);
  const duplicated = [...stored].filter(([, offsets]) => offsets.length > 1);
  t.same(lost, [], 'no acknowledged write lost');
  t.same(misplaced, [], 'every acknowledged write at the offset its acknowledgement named');
  t.same(duplicated, [], 'no write stored twice');

  // A repeat after `firstMs` is JetStream's failover loss only if a node died between the two, soon after the first.
  const failoverBetween = (firstMs: number, repeatMs: number) => killedAtMs.some((k) => k >= firstMs - 100 && k - firstMs <= FAILOVER_WINDOW_MS && repeatMs >= k);
  const firstNewMs = new Map<number, number>();
  const newTwice: Delivered[] = [];
  for (const d of deliveries) {
    if (d.count !== 1) continue;
    if (firstNewMs.has(d.offset)) newTwice.push(d);
    else firstNewMs.set(d.offset, d.sentMs);
  }
  const afterMark = deliveries.filter((d) => markedAtMs.has(d.offset) && d.sentMs > markedAtMs.get(d.offset)! + 50);
  const newTwiceExcused = newTwice.filter((d) => failoverBetween(firstNewMs.get(d.offset)!, d.sentMs));
  const afterMarkExcused = afterMark.filter((d) => failoverBetween(markedAtMs.get(d.offset)!, d.sentMs));
  if (newTwiceExcused.length + afterMarkExcused.length > 0) {
    t.comment(`lost in a consumer leader's failover (JetStream 2.9): delivered twice as new ${JSON.stringify(newTwiceExcused)}, again after a mark ${JSON.stringify(afterMarkExcused)}; node kills at ${JSON.stringify(killedAtMs)}`);
  }
  t.same(newTwice.filter((d) => !newTwiceExcused.includes(d)), [], 'no event delivered twice as new (but in a node failover)');
  t.same(afterMark.filter((d) => !afterMarkExcused.includes(d)), [], 'no event delivered again after its mark 1 was answered (but in a node failover)');
  // Each failover may lose only its last moments: a handful of events per kill, not a batch stream.
  const repeats = new Set([...newTwiceExcused, ...afterMarkExcused].map((d) => d.offset)).size;
  t.ok(repeats <= cycles * 2 * 50, `events repeated by failovers: ${repeats} (at most one batch of 50 per consumer per kill)`);
  t.ok(acked.size > cycles * 50, `the writers got acknowledgements (${acked.size})`);
  t.comment(`acked ${acked.size}, stored ${stored.size}, write errors ${writeErrors}, deliveries ${deliveries.length} (${deliveries.filter((d) => d.count > 1).length} redeliveries)`);
});
