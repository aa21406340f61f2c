/**
 * Pull requests (src/bus/jetstream/puller.ts) driven by a fake connection: a pull ends when the
 * server says it has (batch reached, or a 404/408/409 status), never on a message's `pending 0`
 * (nats.js 2.29's fetch stopped there and dropped what the server still sent on the request:
 * issue 16); a message after the guard or a stop ended the pull goes to the late callback.
 */
import { headers as natsHeaders, type JsMsg, type Msg, type NatsConnection } from 'nats';
import t from 'tap';
import { Puller } from '../../src/bus/jetstream/puller.js';

function fakeConnection() {
  const subscriptions = new Map<string, (msg: Msg) => void>();
  const requests: { subject: string; body: unknown; reply: string }[] = [];
  const nc = {
    isClosed: () => false,
    subscribe: (subject: string, options: { callback: (error: null, msg: Msg) => void }) => {
      subscriptions.set(subject, (msg) => options.callback(null, msg));
      return { unsubscribe: () => subscriptions.delete(subject) };
    },
    closed: () => new Promise(() => {}),
    publish: (subject: string, data: Uint8Array, options: { reply: string }) => {
      requests.push({ subject, body: JSON.parse(new TextDecoder().decode(data)), reply: options.reply });
    },
  } as unknown as NatsConnection;
  const deliver = (inbox: string, msg: Msg) => subscriptions.get(inbox)?.(msg);
  /** A message of stream S (subject S.a), consumer d, at `seq`, sent with the consumer's `pending` count. */
  const message = (inbox: string, seq: number, pending: number) =>
    deliver(inbox, { subject: 'S.a', data: new TextEncoder().encode(`m${seq}`), headers: natsHeaders(), reply: `$JS.ACK.S.d.1.${seq}.${seq}.0.${pending}`, respond: () => true } as unknown as Msg);
  const status = (inbox: string, code: number, description: string) => deliver(inbox, { subject: inbox, data: new Uint8Array(), headers: natsHeaders(code, description), respond: () => true } as unknown as Msg);
  return { nc, requests, message, status, subscriptions };
}

const seqs = (messages: readonly JsMsg[]) => messages.map((m) => m.seq);

t.test('a pull ends on the server\'s word, not on pending 0', async (t) => {
  const late: JsMsg[] = [];
  const { nc, requests, message, status, subscriptions } = fakeConnection();
  const puller = new Puller(nc, (msg) => late.push(msg), 1000, 50);

  const noWait = puller.pull('S', 'd', { batch: 10, noWait: true }, 60_000);
  t.same(requests[0]!.subject, '$JS.API.CONSUMER.MSG.NEXT.S.d');
  t.same(requests[0]!.body, { batch: 10, no_wait: true });
  const reply = requests[0]!.reply;
  message(reply, 1, 0);
  await new Promise((r) => setTimeout(r, 20));
  message(reply, 2, 0); // written after the first was sent: delivered on the same request
  status(reply, 408, 'Request Timeout');
  t.same(await noWait.result.then((r) => [seqs(r.messages), r.end]), [[1, 2], 'status'], 'every message up to the 408');

  const full = puller.pull('S', 'd', { batch: 2, noWait: false, expiresMs: 5000 }, 60_000);
  t.same(requests[1]!.body, { batch: 2, expires: 5_000_000_000 });
  message(requests[1]!.reply, 3, 0);
  message(requests[1]!.reply, 4, 0);
  t.same(await full.result.then((r) => [seqs(r.messages), r.end]), [[3, 4], 'full'], 'a full batch ends it');

  const none = puller.pull('S', 'd', { batch: 5, noWait: true }, 60_000);
  status(requests[2]!.reply, 404, 'No Messages');
  t.same(await none.result.then((r) => [seqs(r.messages), r.end]), [[], 'status'], '404: nothing');

  const guarded = puller.pull('S', 'd', { batch: 5, noWait: true }, 30);
  message(requests[3]!.reply, 5, 3);
  t.same(await guarded.result.then((r) => [seqs(r.messages), r.end]), [[5], 'guard'], 'the guard ends it with what came');
  message(requests[3]!.reply, 6, 2);
  status(requests[3]!.reply, 408, 'Request Timeout');
  t.same(seqs(late), [6], 'what came after the guard goes to the late callback');

  const stopped = puller.pull('S', 'd', { batch: 5, noWait: false, expiresMs: 1000 }, 60_000);
  stopped.stop();
  t.same((await stopped.result).end, 'stopped');
  message(requests[4]!.reply, 7, 0);
  t.same(seqs(late), [6, 7], 'and what came after a stop');
  await new Promise((r) => setTimeout(r, 80));
  t.same(subscriptions.size, 0, 'the inboxes of pulls the server ended are closed at once, the others after the late window');

  const gone = puller.pull('S', 'd', { batch: 5, noWait: true }, 60_000);
  status(requests[5]!.reply, 503, 'No Responders');
  await t.rejects(gone.result, { code: '503' }, 'no responders: the consumer has no leader, or is gone');
  t.equal(puller.inFlight, 0, 'no pull left in flight');
});
