/**
 * A client that behaves like the original Go client (go-web-dev/event-bus-go): one TCP
 * connection; each request is json.Marshal output (map keys sorted, so `event` before
 * `stream_name`) plus `\n`, auth on every request, health and exit included; each response is
 * read with a NEW buffered reader, so anything past the first newline would be lost; failure is
 * decided by the presence of `reason` only.
 */
import net from 'node:net';
import t from 'tap';
import { serverFor } from '../helpers/server-inprocess.js';

const CREDENTIALS = { client_id: 'dope_go_client_id', client_secret: 'dope_go_client_secret' };

class GoLikeClient {
  private constructor(private readonly socket: net.Socket, private readonly t: { fail(message: string): void }) {}

  static connect(port: number, t: { fail(message: string): void }): Promise<GoLikeClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => resolve(new GoLikeClient(socket, t)));
      socket.once('error', reject);
    });
  }

  /** One request line, then one read "with a new bufio.Reader": exactly one line must arrive. */
  async call(operation: string, body?: Record<string, unknown>): Promise<{ operation: string; status: boolean; body?: unknown; reason?: string | null }> {
    const request: Record<string, unknown> = { operation };
    if (body !== undefined) request.body = sortKeys(body);
    request.auth = CREDENTIALS;
    this.socket.write(`${JSON.stringify(request)}\n`);
    const bytes = await this.readOnce();
    const newline = bytes.indexOf('\n');
    if (newline !== bytes.length - 1) this.t.fail(`a fresh reader would lose data: ${JSON.stringify(bytes)}`);
    return JSON.parse(bytes.slice(0, newline));
  }

  private readOnce(): Promise<string> {
    return new Promise((resolve, reject) => {
      let data = '';
      const onData = (chunk: Buffer) => {
        data += chunk.toString();
        if (data.includes('\n')) {
          this.socket.off('data', onData);
          // Give a second line, if the server wrongly sent one, the chance to arrive.
          setTimeout(() => {
            this.socket.pause();
            this.socket.off('error', reject);
            resolve(data);
          }, 5);
          this.socket.on('data', (more: Buffer) => (data += more.toString()));
        }
      };
      this.socket.removeAllListeners('data');
      this.socket.resume();
      this.socket.on('data', onData);
      this.socket.once('error', reject);
    });
  }

  closed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) resolve();
      this.socket.resume();
      this.socket.once('close', () => resolve());
    });
  }
}

function sortKeys(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** As the Go client: errors are detected by `reason` only. */
function failed(response: { reason?: string | null }): boolean {
  return response.reason !== undefined && response.reason !== null;
}

t.test('a Go-client-style flow: create, write, process, mark 1 or 2, retry, mark, exit', async (t) => {
  const { port } = await serverFor(t, { clients: { 'go-client': CREDENTIALS } });
  const go = await GoLikeClient.connect(port, t);

  const health = await go.call('health');
  t.notOk(failed(health));
  t.same(health, { operation: 'health', status: true });

  const created = await go.call('create_stream', { stream_name: 'orders' });
  t.notOk(failed(created));
  const stream = (created.body as { stream: { id: string; name: string; created_at: string } }).stream;
  t.equal(stream.name, 'orders');
  t.ok(!Number.isNaN(Date.parse(stream.created_at)), 'created_at parses as a time');

  for (let i = 0; i < 6; i++) {
    const written = await go.call('write_event', { stream_name: 'orders', event: { n: i } });
    t.notOk(failed(written), 'write_event: success has no reason');
  }
  const nilEvent = await go.call('write_event', { stream_name: 'orders', event: null });
  t.notOk(failed(nilEvent), 'a nil event is sent as null and accepted');

  const processed = await go.call('process_events', { stream_name: 'orders' });
  t.notOk(failed(processed));
  const events = (processed.body as { events: { id: string; stream_id: string; status: number; created_at: string; body: unknown }[] }).events;
  t.equal(events.length, 7);
  for (const e of events) {
    t.equal(typeof e.id, 'string');
    t.equal(e.stream_id, stream.id);
    t.ok(Number.isInteger(e.status) && e.status >= 0 && e.status <= 255, 'status decodes as a uint8');
    t.ok(!Number.isNaN(Date.parse(e.created_at)));
  }
  t.same(events.map((e) => e.body), [{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }, null]);

  // The Go client's MarkEvent sends event_id and status only (no stream, no consumer).
  for (const [i, e] of events.entries()) {
    const marked = await go.call('mark_event', { event_id: e.id, status: i % 2 === 0 ? 1 : 2 });
    t.notOk(failed(marked), `mark ${i}`);
  }
  const retried = await go.call('retry_events', { stream_name: 'orders' });
  const retryEvents = (retried.body as { events: { id: string; body: unknown; status: number }[] }).events;
  t.same(retryEvents.map((e) => e.body), [{ n: 1 }, { n: 3 }, { n: 5 }], 'the events marked 2 come back');
  for (const e of retryEvents) t.notOk(failed(await go.call('mark_event', { event_id: e.id, status: 1 })));

  const all = await go.call('get_stream_events', { stream_name: 'orders' });
  t.same((all.body as { events: { status: number }[] }).events.map((e) => e.status), [1, 1, 1, 1, 1, 1, 1], 'all processed');
  const again = await go.call('process_events', { stream_name: 'orders' });
  t.same((again.body as { events: unknown[] }).events, [], 'nothing is delivered twice');

  const missing = await go.call('get_stream_info', { stream_name: 'nope' });
  t.ok(failed(missing));
  t.equal(missing.reason, "stream 'nope' not found");

  const bad = await go.call('mark_event', { event_id: events[0]!.id, status: 300 });
  t.equal(bad.reason, 'invalid json provided', 'a Go int status outside uint8 range');

  const exit = await go.call('exit');
  t.notOk(failed(exit));
  await go.closed();
  t.pass('the server closed the connection after exit');
});
