/**
 * The gateway's own JetStream publisher (src/bus/jetstream/pub-ack-publisher.ts) on a real
 * nats-server: PubAcks matched to their writes in any order, and every failure the writer handles
 * (a JetStream API error, no responders, a timeout, a closed connection) given exactly as nats.js's
 * `js.publish` gives it, so retries, conflict checks and msg-id dedup work unchanged.
 */
import { connect, headers, type MsgHdrs } from 'nats';
import t from 'tap';
import { JsErrors, actualLastSequence, isTransient, jsErrorCode } from '../../src/bus/jetstream/nats-errors.js';
import { MAX_PENDING, PubAckPublisher, decodePubAck } from '../../src/bus/jetstream/pub-ack-publisher.js';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';

const TIMEOUT_MS = 5000;
const bytes = (s: string) => new TextEncoder().encode(s);

function hdrs(entries: Record<string, string> = {}): MsgHdrs {
  const h = headers();
  for (const [k, v] of Object.entries(entries)) h.set(k, v);
  return h;
}

/** The fields of a failure the writer and nats-errors.ts look at. */
function shape(error: unknown): unknown {
  const e = error as { code?: string; message?: string; api_error?: unknown; name?: string };
  return { name: e.name, code: e.code, message: e.message, api_error: e.api_error, transient: isTransient(error) };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

t.test('the PubAck publisher on a nats-server', natsSkip(), async (t) => {
  const cluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  // The publisher and the connection that plays a silent or slow JetStream on one server: on
  // different ones, the responder's interest may not have reached the publisher's server when it
  // publishes, which answers "no responders" at once (seen in a CI rehearsal).
  const nc = await connect({ servers: cluster.servers[0]!, noAsyncTraces: true });
  const other = await connect({ servers: cluster.servers[0]! });
  t.teardown(async () => {
    await nc.close();
    await other.close();
  });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'PA', subjects: ['pa.>'], num_replicas: 1 });
  const js = nc.jetstream({ timeout: TIMEOUT_MS });
  const publisher = new PubAckPublisher(nc);

  t.test('pipelined writes: stored in call order, each answered with its own sequence, duplicates flagged', async (t) => {
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => publisher.publish('pa.x', bytes(String(i)), { headers: hdrs({ 'Nats-Msg-Id': `m-${i}` }), timeout: TIMEOUT_MS })));
    t.same(acks.map((a) => a.seq), Array.from({ length: 200 }, (_, i) => i + 1), 'sequences in call order');
    t.ok(acks.every((a) => a.stream === 'PA' && a.duplicate === false));
    for (const seq of [1, 100, 200]) t.equal(new TextDecoder().decode((await jsm.streams.getMessage('PA', { seq })).data), String(seq - 1), `message ${seq} is write ${seq - 1}`);
    const again = await publisher.publish('pa.x', bytes('7'), { headers: hdrs({ 'Nats-Msg-Id': 'm-7' }), timeout: TIMEOUT_MS });
    t.same(again, { stream: 'PA', seq: 8, duplicate: true }, 'a retried msg id is the original, flagged duplicate');
    t.equal(publisher.inFlight, 0, 'nothing left pending');
  });

  t.test('JetStream API errors are the errors js.publish gives', async (t) => {
    const cases: Array<[string, Record<string, string>]> = [
      ['wrong last sequence', { 'Nats-Expected-Last-Sequence': '3' }],
      ['wrong stream', { 'Nats-Expected-Stream': 'OTHER' }],
      ['wrong last msg id', { 'Nats-Expected-Last-Msg-Id': 'nope' }],
    ];
    for (const [what, h] of cases) {
      const ours = await failure(publisher.publish('pa.y', bytes('x'), { headers: hdrs(h), timeout: TIMEOUT_MS }));
      const theirs = await failure(js.publish('pa.y', bytes('x'), { headers: hdrs(h), timeout: TIMEOUT_MS }));
      t.same(shape(ours), shape(theirs), what);
      t.ok(jsErrorCode(ours) !== undefined, `${what}: an api_error with its err_code`);
    }
    const conflict = await failure(publisher.publish('pa.y', bytes('x'), { headers: hdrs({ 'Nats-Expected-Last-Sequence': '3' }), timeout: TIMEOUT_MS }));
    t.equal(jsErrorCode(conflict), JsErrors.wrongLastSequence, 'a conflict is 10071');
    t.equal(actualLastSequence(conflict), (await jsm.streams.info('PA')).state.last_seq, 'naming the actual last sequence');
  });

  t.test('no responders: the transient 503 js.publish gives, nothing stored', async (t) => {
    const ours = await failure(publisher.publish('nobody.listens', bytes('x'), { headers: hdrs(), timeout: TIMEOUT_MS }));
    const theirs = await failure(js.publish('nobody.listens', bytes('x'), { headers: hdrs(), timeout: TIMEOUT_MS }));
    t.same(shape(ours), shape(theirs));
    t.match(shape(ours), { code: '503', transient: true });
  });

  t.test('answers in another order than the writes are matched to their own writes', async (t) => {
    const held: Array<{ n: number; respond: (data: Uint8Array) => boolean }> = [];
    const sub = other.subscribe('fake.>', { callback: (_e, m) => held.push({ n: Number(new TextDecoder().decode(m.data)), respond: (d) => m.respond(d) }) });
    t.teardown(() => sub.unsubscribe());
    await other.flush();
    const writes = [0, 1, 2, 3, 4].map((n) => publisher.publish('fake.w', bytes(String(n)), { headers: hdrs(), timeout: TIMEOUT_MS }));
    while (held.length < 5) await new Promise((r) => setTimeout(r, 10));
    for (const h of [...held].reverse()) h.respond(bytes(JSON.stringify({ stream: 'FAKE', seq: 100 + h.n, duplicate: h.n === 2 })));
    const acks = await Promise.all(writes);
    t.same(acks.map((a) => [a.seq, a.duplicate]), [[100, false], [101, false], [102, true], [103, false], [104, false]]);
  });

  t.test('no answer within the timeout: TIMEOUT as js.publish gives it, a late answer is ignored', async (t) => {
    let late: ((data: Uint8Array) => boolean) | undefined;
    const sub = other.subscribe('silent.>', { callback: (_e, m) => (late = (d) => m.respond(d)) });
    t.teardown(() => sub.unsubscribe());
    await other.flush();
    const startMs = Date.now();
    const ours = await failure(publisher.publish('silent.w', bytes('x'), { headers: hdrs(), timeout: 300 }));
    const tookMs = Date.now() - startMs;
    t.ok(tookMs >= 300 && tookMs < 2000, `timed out after its timeout (${tookMs} ms)`);
    const theirs = await failure(js.publish('silent.w', bytes('x'), { headers: hdrs(), timeout: 300 }));
    t.same(shape(ours), shape(theirs));
    t.match(shape(ours), { code: 'TIMEOUT', transient: true });
    t.equal(publisher.inFlight, 0);
    late?.(bytes(JSON.stringify({ stream: 'S', seq: 1 })));
    await other.flush();
    await nc.flush();
    const next = await publisher.publish('pa.z', bytes('after'), { headers: hdrs(), timeout: TIMEOUT_MS });
    t.equal(next.stream, 'PA', 'the publisher still works after a late answer');
  });

  t.test('a closed connection fails pending writes and later ones with CONNECTION_CLOSED', async (t) => {
    // The silent subscriber on the same server as the publisher (see above).
    const own = await connect({ servers: cluster.servers[0]!, noAsyncTraces: true });
    const closing = new PubAckPublisher(own);
    const holder = await connect({ servers: cluster.servers[0]! });
    t.teardown(() => holder.close());
    holder.subscribe('hold.>', { callback: () => {} });
    await holder.flush();
    const pending = [1, 2, 3].map(() => failure(closing.publish('hold.w', bytes('x'), { headers: hdrs(), timeout: TIMEOUT_MS })));
    await own.flush();
    t.equal(closing.inFlight, 3);
    await own.close();
    for (const error of await Promise.all(pending)) t.match(shape(error), { code: 'CONNECTION_CLOSED', transient: true });
    t.match(shape(await failure(closing.publish('pa.x', bytes('x'), { headers: hdrs(), timeout: TIMEOUT_MS }))), { code: 'CONNECTION_CLOSED' });
    t.equal(closing.inFlight, 0);
  });
});

t.test('decoding replies without a server', async (t) => {
  const h503 = headers(503, 'No Responders');
  t.match(decodePubAck({ data: new Uint8Array(0), headers: h503 }), { code: '503' }, 'status 503 without payload: no responders');
  t.match(decodePubAck({ data: new Uint8Array(0), headers: undefined }), { code: 'JESTREAM_INVALID_ACK' }, 'an empty reply is no ack');
  t.match(decodePubAck({ data: bytes('{nope'), headers: undefined }), { code: 'BAD_JSON' });
  t.match(decodePubAck({ data: bytes('{"stream":"","seq":3}'), headers: undefined }), { code: 'JESTREAM_INVALID_ACK' }, 'no stream named: no ack');
  const electing = decodePubAck({ data: bytes('{"error":{"code":503,"err_code":10008,"description":"JetStream cluster not available"}}'), headers: undefined });
  t.match(electing, { code: '503', api_error: { err_code: 10008 } });
  t.equal(isTransient(electing), true, 'cluster not available (an election) is retried');
  const full = decodePubAck({ data: bytes('{"error":{"code":500,"err_code":10023,"description":"insufficient resources"}}'), headers: undefined });
  t.match(full, { code: '500', message: 'insufficient resources', api_error: { err_code: JsErrors.insufficientResources } });
  t.same(decodePubAck({ data: bytes('{"stream":"S","seq":9}'), headers: undefined }), { stream: 'S', seq: 9, duplicate: false });
});

t.test('writes awaiting their PubAck are bounded: one more fails at once, as a timeout (retried)', async (t) => {
  // A connection that takes publishes and never answers: no server needed for the bound.
  const published: string[] = [];
  const silent = {
    subscribe: () => ({}),
    closed: () => new Promise(() => {}),
    isClosed: () => false,
    publish: (subject: string) => void published.push(subject),
  } as unknown as ConstructorParameters<typeof PubAckPublisher>[0];
  const publisher = new PubAckPublisher(silent);
  const writes = Array.from({ length: MAX_PENDING }, () => publisher.publish('s.x', bytes('x'), { headers: hdrs(), timeout: 60_000 }));
  for (const w of writes) w.catch(() => {});
  t.equal(publisher.inFlight, MAX_PENDING);
  const over = await publisher.publish('s.x', bytes('x'), { headers: hdrs(), timeout: 60_000 }).then(() => null, (e: unknown) => e);
  t.match(over, { code: 'TIMEOUT' }, 'refused at once, with a code the writer retries');
  t.equal(isTransient(over), true);
  t.equal(publisher.inFlight, MAX_PENDING, 'the refused write is not pending');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(published.length, MAX_PENDING, 'only the accepted writes were published');
});
