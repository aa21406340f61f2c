/**
 * Confirmed consumer acks through the gateway's reply mux (src/bus/jetstream/reply-mux.ts with
 * decodeAckReply), which mark_event uses instead of nats.js's `msg.ackAck`, on a real
 * nats-server: an ack is confirmed only once the consumer has it, and every failure (the consumer
 * gone, no answer in time, a closed connection) is the error `msg.ackAck` gives, since the
 * consumers' fallbacks (consumers.ts) tell them apart by code. (The mux's matching, ordering and
 * bound are tested through the PubAck publisher, pub-ack-publisher.test.ts.)
 */
import { AckPolicy, connect, type JsMsg } from 'nats';
import t from 'tap';
import { ReplyMux, decodeAckReply } from '../../src/bus/jetstream/reply-mux.js';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';

const TIMEOUT_MS = 5000;
const ACK = new TextEncoder().encode('+ACK');

async function failure(p: Promise<unknown>): Promise<{ code?: string; name?: string }> {
  try {
    await p;
  } catch (error) {
    const e = error as { code?: string; name?: string };
    return { code: e.code, name: e.name };
  }
  throw new Error('expected a rejection');
}

t.test('confirmed acks through the reply mux', natsSkip(), async (t) => {
  const cluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  const nc = await connect({ servers: cluster.servers, noAsyncTraces: true });
  t.teardown(() => nc.close());
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream({ timeout: TIMEOUT_MS });
  await jsm.streams.add({ name: 'RM', subjects: ['rm.>'], num_replicas: 1 });
  for (let i = 0; i < 10; i++) await js.publish('rm.x', new TextEncoder().encode(String(i)));
  const acks = new ReplyMux<true>(nc, decodeAckReply);
  const fetch = async (durable: string, batch: number): Promise<JsMsg[]> => {
    const messages: JsMsg[] = [];
    for await (const m of js.fetch('RM', durable, { batch, expires: 2000 })) messages.push(m);
    return messages;
  };
  const replyOf = (m: JsMsg) => (m as JsMsg & { reply: string }).reply;

  t.test('an ack is confirmed once the consumer has it', async (t) => {
    await jsm.consumers.add('RM', { durable_name: 'ok', ack_policy: AckPolicy.Explicit });
    const messages = await fetch('ok', 5);
    t.equal(messages.length, 5);
    const confirmed = await Promise.all(messages.map((m) => acks.request(replyOf(m), ACK, { timeout: TIMEOUT_MS })));
    t.same(confirmed, [true, true, true, true, true]);
    const info = await jsm.consumers.info('RM', 'ok');
    t.equal(info.ack_floor.stream_seq, 5, 'the consumer has every ack when they are confirmed');
    t.equal(info.num_ack_pending, 0);
    t.equal(acks.inFlight, 0);
  });

  t.test('the consumer gone: no responders, as msg.ackAck gives it', async (t) => {
    await jsm.consumers.add('RM', { durable_name: 'gone', ack_policy: AckPolicy.Explicit });
    const [a, b] = await fetch('gone', 2);
    await jsm.consumers.delete('RM', 'gone');
    const ours = await failure(acks.request(replyOf(a!), ACK, { timeout: TIMEOUT_MS }));
    const theirs = await failure(b!.ackAck({ timeout: TIMEOUT_MS }));
    t.same(ours, theirs);
    t.match(ours, { code: '503' });
  });

  t.test('no answer within the timeout: TIMEOUT, as msg.ackAck gives it', async (t) => {
    const silent = nc.subscribe('silent.ack', { callback: () => {} });
    t.teardown(() => silent.unsubscribe());
    await nc.flush();
    const startMs = Date.now();
    const ours = await failure(acks.request('silent.ack', ACK, { timeout: 300 }));
    const tookMs = Date.now() - startMs;
    t.ok(tookMs >= 300 && tookMs < 2000, `timed out after its timeout (${tookMs} ms)`);
    // msg.ackAck is a nats.js request (RequestOne) to the ack subject: the same as nc.request's.
    const theirs = await failure(nc.request('silent.ack', ACK, { timeout: 300 }));
    t.same(ours, theirs);
    t.match(ours, { code: 'TIMEOUT' });
    t.equal(acks.inFlight, 0);
  });

  t.test('a closed connection: CONNECTION_CLOSED for pending and later acks', async (t) => {
    // The silent subscriber on the same server as the mux: on another one, its interest may not
    // have reached the mux's server yet, which would answer "no responders" at once.
    const own = await connect({ servers: cluster.servers[0]!, noAsyncTraces: true });
    const closing = new ReplyMux<true>(own, decodeAckReply);
    const holder = await connect({ servers: cluster.servers[0]! });
    t.teardown(() => holder.close());
    holder.subscribe('hold.ack', { callback: () => {} });
    await holder.flush();
    const pending = failure(closing.request('hold.ack', ACK, { timeout: TIMEOUT_MS }));
    await own.flush();
    await own.close();
    t.match(await pending, { code: 'CONNECTION_CLOSED' });
    t.match(await failure(closing.request('hold.ack', ACK, { timeout: TIMEOUT_MS })), { code: 'CONNECTION_CLOSED' });
  });
});
