/**
 * The jetstream backend's consumers and writes where the cluster misbehaves (issue 16's audit),
 * on a real 3-node cluster with the condition forced:
 * - pulls: what the server sends after the gateway ended a pull is handed out by the next call
 *   (not held until the ack deadline), and a pull nobody answers is BACKEND_UNAVAILABLE, not an
 *   empty page (puller.test.ts has the pull's own ending rules);
 * - read-your-writes of a new durable and of a dead-letter stream, with the consumer's replica
 *   lagging (its first no_wait fetch comes back empty);
 * - dead letters retried as writes are, and a failed one not taking the rest of its batch down;
 * - a keyed write's deadline, counted from its arrival, and its failure's msg_id.
 */
import { connect, type NatsConnection } from 'nats';
import t from 'tap';
import { JetStreamStore } from '../../src/bus/jetstream/jetstream-store.js';
import { jsConsumerName, jsStreamName } from '../../src/bus/jetstream/names.js';
import { natsSkip, startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';

const body = (value: unknown) => Buffer.from(JSON.stringify(value));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const timeout = () => Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' });

interface Inner {
  consumers: { known: Set<string>; fetchOnce(...args: unknown[]): Promise<unknown[]> };
  catalog: { require(name: string): Promise<{ number: number }> };
  affinity: { pick(name: string): { publish(...args: unknown[]): Promise<unknown> } };
  js: { publish(...args: unknown[]): Promise<unknown> };
  jsm: { streams: { info(...args: unknown[]): Promise<unknown> } };
}
const inner = (store: JetStreamStore) => store as unknown as Inner;

async function jsNameOf(store: JetStreamStore, name: string): Promise<string> {
  return jsStreamName((await inner(store).catalog.require(name)).number);
}

/** The next `n` no_wait fetches of `store` come back empty: the consumer's leader is a replica that lags. */
function lagging(store: JetStreamStore): { next(n: number): void } {
  const consumers = inner(store).consumers;
  const real = consumers.fetchOnce.bind(consumers);
  let left = 0;
  consumers.fetchOnce = (...args: unknown[]) => {
    if ((args[3] as { no_wait?: boolean }).no_wait === true && left > 0) {
      left -= 1;
      return Promise.resolve([]);
    }
    return real(...args);
  };
  return { next: (n) => void (left = n) };
}

t.test('the jetstream backend where the cluster misbehaves', natsSkip(), async (t) => {
  const cluster: NatsCluster = await startNatsCluster();
  t.teardown(() => cluster.stop());

  t.test('what the server sends after the gateway ended a pull is handed out by the next call, not held until the ack deadline', async (t) => {
    const store = await JetStreamStore.open({ servers: cluster.servers, consumers: { ackWaitMs: 20_000 } });
    t.teardown(() => store.close());
    await store.createStream('late');
    for (let i = 0; i < 3; i++) await store.append('late', [{ payload: body(i) }], {});
    t.same((await store.consume('late', 'w', { maxEvents: 1, autoAck: false })).events.map((e) => e.offset), [0]);
    // The fetch connection stops reading for a while (a busy loop, a slow network): the server's
    // answer to the next pull comes after its guard (1 s) ended it.
    const consumers = inner(store).consumers as unknown as { fetcher: { nc: { protocol: { transport: { socket: { pause(): void; resume(): void } } } } } };
    const socket = consumers.fetcher.nc.protocol.transport.socket;
    socket.pause();
    const during = await store.consume('late', 'w', { maxEvents: 10, autoAck: false });
    t.same(during.events, [], 'nothing came in time');
    socket.resume();
    await sleep(200);
    const after = await store.consume('late', 'w', { maxEvents: 10, autoAck: false });
    t.same(after.events.map((e) => [e.offset, e.deliveryCount, e.status]), [[1, 1, 0], [2, 1, 0]], 'the next call hands them out, as new, long before ack_wait (20 s)');
  });

  t.test('a pull nobody answers (the cluster unreachable) is BACKEND_UNAVAILABLE, not an empty page', async (t) => {
    const store = await JetStreamStore.open({ servers: cluster.servers, requestTimeoutMs: 1000 });
    t.teardown(() => store.close());
    await store.createStream('silent');
    const jsName = await jsNameOf(store, 'silent');
    const nc: NatsConnection = await connect({ servers: cluster.servers });
    t.teardown(() => nc.close());
    // The consumer's pull subject has a responder that never answers; the durable is "known",
    // so the gateway sends its pulls without asking JetStream about it.
    let pulls = 0;
    nc.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${jsName}.*`, { callback: () => void (pulls += 1) });
    await nc.flush();
    inner(store).consumers.known.add(`${jsName}|${jsConsumerName('w')}`);
    const startMs = Date.now();
    await t.rejects(store.consume('silent', 'w', { maxEvents: 10, autoAck: false }), { code: 'BACKEND_UNAVAILABLE', message: /did not answer/ }, 'BACKEND_UNAVAILABLE');
    t.equal(pulls, 2, 'after asking again over a new connection');
    t.ok(Date.now() - startMs < 8000, `within a few seconds (${Date.now() - startMs} ms)`);
  });

  t.test('read-your-writes: a new durable catches up to what the stream holds, and a dead-letter stream to its dead letters', async (t) => {
    const writer = await JetStreamStore.open({ servers: cluster.servers });
    t.teardown(() => writer.close());
    const store = await JetStreamStore.open({ servers: cluster.servers, consumers: { maxDeliveries: 1, ackWaitMs: 2000 } });
    t.teardown(() => store.close());
    const lag = lagging(store);
    await writer.createStream('elsewhere');
    for (let i = 0; i < 3; i++) await writer.append('elsewhere', [{ payload: body(i) }], {});
    lag.next(1);
    const fresh = await store.consume('elsewhere', 'fresh', { maxEvents: 10, autoAck: false });
    t.same(fresh.events.map((e) => e.offset), [0, 1, 2], 'a durable created by the call gets what was written through another gateway');

    // Dead letters: the first makes $dlq:elsewhere; its consumer reads it; then another.
    const deadLetter = async (id: string) => {
      await store.mark('w', [id], 0);
      for (let i = 0; i < 50; i++) {
        t.same((await store.consume('elsewhere', 'w', { maxEvents: 1, autoAck: false })).events, [], 'past max_deliveries: not handed out');
        const dead = (await store.streamInfo('elsewhere')).consumers.find((c) => c.name === 'w')?.deadLettered ?? 0;
        if (dead > 0 && (await store.streamInfo('$dlq:elsewhere').catch(() => null))?.nextOffset === dead) return;
        await sleep(100);
      }
    };
    const one = await store.consume('elsewhere', 'w', { maxEvents: 1, autoAck: false });
    await deadLetter(one.events[0]!.id);
    t.same((await store.consume('$dlq:elsewhere', 'ops', { maxEvents: 10, autoAck: false })).events.map((e) => e.offset), [0], 'the first dead letter');
    const two = await store.consume('elsewhere', 'w', { maxEvents: 1, autoAck: false });
    await deadLetter(two.events[0]!.id);
    lag.next(1);
    const second = await store.consume('$dlq:elsewhere', 'ops', { maxEvents: 10, autoAck: false });
    t.same(second.events.map((e) => e.offset), [1], 'a poll after a dead letter this gateway wrote waits for it');
  });

  t.test('dead letters are retried as writes are; one that fails does not take its batch down', async (t) => {
    const store = await JetStreamStore.open({ servers: cluster.servers, writeTimeoutMs: 1500, consumers: { maxDeliveries: 1, ackWaitMs: 10_000 } });
    t.teardown(() => store.close());
    await store.createStream('poison');
    // The dead-letter publish fails (TIMEOUT, as when the dead-letter stream's leader was lost)
    // `failures` times, or always while `failures` is -1. The gateway sends it either way.
    let failures = 0;
    const failing = () => {
      if (failures === 0) return null;
      if (failures > 0) failures -= 1;
      return Promise.reject(timeout());
    };
    const affinity = inner(store).affinity;
    const pick = affinity.pick.bind(affinity);
    affinity.pick = (name: string) => {
      const publisher = pick(name);
      return name.startsWith('$dlq:') ? { publish: (...args: unknown[]) => failing() ?? publisher.publish(...args) } : publisher;
    };
    const js = inner(store).js;
    const publish = js.publish.bind(js);
    js.publish = (...args: unknown[]) => (String(args[0]).includes('.d.') ? failing() : null) ?? publish(...args);

    const redelivered = async () => {
      const [first] = (await store.consume('poison', 'w', { maxEvents: 1, autoAck: false })).events;
      await store.mark('w', [first!.id], 0);
    };
    await store.append('poison', [{ payload: body('p0') }], {});
    await redelivered();
    failures = 2;
    t.same((await store.consume('poison', 'w', { maxEvents: 10, autoAck: false })).events, [], 'a dead letter that failed twice: written on its third try');
    t.equal(failures, 0, 'both failures were met');
    t.match((await store.streamInfo('poison')).consumers, [{ name: 'w', deadLettered: 1 }]);

    await store.append('poison', [{ payload: body('p1') }], {});
    await redelivered();
    await store.append('poison', [{ payload: body('ok') }], {});
    failures = -1;
    const batch = await store.consume('poison', 'w', { maxEvents: 10, autoAck: false });
    t.same(batch.events.map((e) => [e.offset, e.deliveryCount]), [[2, 1]], 'the dead letter failed (write_timeout_ms): the rest of the batch is handed out');
    failures = 0;
    let dead = 1;
    for (let i = 0; i < 50 && dead < 2; i++) {
      t.same((await store.consume('poison', 'w', { maxEvents: 10, autoAck: false })).events, [], 'the failed one is not handed out');
      dead = (await store.streamInfo('poison')).consumers[0]!.deadLettered;
    }
    t.equal(dead, 2, 'and is dead-lettered by a later call, not after the ack deadline');
    failures = -1;
    await store.append('poison', [{ payload: body('p3') }], {});
    await store.mark('w', batch.events.map((e) => e.id), 1);
    await redelivered();
    await t.rejects(store.consume('poison', 'w', { maxEvents: 10, autoAck: false }), { code: 'BACKEND_UNAVAILABLE', message: /dead-lettering an event of stream 'poison'/ }, 'nothing else to hand out: the failure is the answer');
  });

  t.test('a keyed write fails within write_timeout_ms of its arrival, with its msg_id', async (t) => {
    const store = await JetStreamStore.open({ servers: cluster.servers, writeTimeoutMs: 2000 });
    t.teardown(() => store.close());
    await store.createStream('quorum');
    await store.append('quorum', [{ payload: body('first') }], { key: 'k1' });
    const streams = inner(store).jsm.streams;
    const info = streams.info.bind(streams);
    let down = false;
    streams.info = (...args: unknown[]) => (down ? Promise.reject(timeout()) : info(...args));
    const affinity = inner(store).affinity;
    const pick = affinity.pick.bind(affinity);
    affinity.pick = (name: string) => (down ? { publish: () => Promise.reject(timeout()) } : pick(name));
    down = true;
    t.teardown(() => void (down = false));
    // The quorum is lost: the stream leader's reads and publishes time out.
    const keyed = await store.append('quorum', [{ payload: body('x'), msgId: 'k-1' }], { key: 'k1' }).catch((error: unknown) => error);
    t.match(keyed, { code: 'BACKEND_UNAVAILABLE', context: { msg_id: 'k-1' } }, 'BACKEND_UNAVAILABLE with the msg_id to retry with');
    // Sent right behind a plain write that spends write_timeout_ms on its retries.
    const sentMs = Date.now();
    const plain = store.append('quorum', [{ payload: body('y') }], {}).catch((error: unknown) => error);
    const behind = store.append('quorum', [{ payload: body('z') }], { key: 'k1' }).catch((error: unknown) => error);
    t.match(await plain, { code: 'BACKEND_UNAVAILABLE', context: { msg_id: String } });
    t.match(await behind, { code: 'BACKEND_UNAVAILABLE', context: { msg_id: String } });
    const tookMs = Date.now() - sentMs;
    t.ok(tookMs < 3000, `the keyed write behind it failed ${tookMs} ms after it was sent, not two write_timeout_ms`);
  });
});
