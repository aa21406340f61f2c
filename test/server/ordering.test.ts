/**
 * Per-connection ordering and concurrency: pipelined requests are answered in order and take
 * effect in order; 50 connections writing at once store every event exactly once, in order per
 * connection.
 */
import t from 'tap';
import { serverFor } from '../helpers/server-inprocess.js';
import { LineSocket, linesFor } from '../helpers/server-lines.js';

t.test('pipelined requests of every kind are answered in request order', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  let batch = '{"operation":"create_stream","body":{"stream_name":"p"},"request_id":0}\n';
  const kinds: string[] = ['create_stream'];
  for (let i = 1; i < 400; i++) {
    const k = i % 8;
    if (k < 4) batch += `{"operation":"write_event","body":{"stream_name":"p","event":{"i":${i}}},"request_id":${i}}\n`;
    else if (k === 4) batch += `{"operation":"get_stream_info","body":{"stream_name":"p"},"request_id":${i}}\n`;
    else if (k === 5) batch += `{"operation":"health","request_id":${i}}\n`;
    else if (k === 6) batch += `{"operation":"nope","request_id":${i}}\n`;
    else batch += `{"operation":"get_stream_events","body":{"stream_name":"p","from_offset":0,"max_events":100000},"request_id":${i}}\n`;
    kinds.push(k < 4 ? 'write_event' : k === 4 ? 'get_stream_info' : k === 5 ? 'health' : k === 6 ? 'decode_request' : 'get_stream_events');
  }
  s.write(batch);
  let writesBefore = 0;
  for (let i = 0; i < 400; i++) {
    const response = JSON.parse(await s.readLine());
    t.equal(response.request_id, i, `response ${i} in order`);
    t.equal(response.operation, kinds[i]);
    if (response.operation === 'write_event') {
      t.equal(response.body.event.offset, writesBefore, 'offsets follow request order');
      writesBefore += 1;
    }
    // A read sees exactly the writes sent before it on the connection.
    if (response.operation === 'get_stream_info') t.equal(response.body.stream.event_count, writesBefore);
    if (response.operation === 'get_stream_events') t.equal(response.body.events.length, writesBefore);
  }
  t.equal(s.unread, '');
});

t.test('50 connections writing to the same and different streams: every event once, in order per connection', async (t) => {
  const { port, engine } = await serverFor(t, { engineOptions: { segmentSizeBytes: 64 * 1024 } });
  const CONNECTIONS = 50;
  const PER_CONNECTION = 60;
  const DEPTH = 8;
  const setup = await linesFor(t, port);
  for (const name of ['shared', 'own-0', 'own-1', 'own-2', 'own-3', 'own-4']) await setup.request({ operation: 'create_stream', body: { stream_name: name } });
  const acks = new Map<string, number>(); // "conn:seq" -> offset
  await Promise.all(Array.from({ length: CONNECTIONS }, async (_, c) => {
    const s = await LineSocket.connect(port);
    const stream = c % 2 === 0 ? 'shared' : `own-${c % 5}`;
    let sent = 0;
    let received = 0;
    const sendOne = () => {
      s.write(`{"operation":"write_event","body":{"stream_name":"${stream}","event":{"c":${c},"seq":${sent}}},"request_id":${sent}}\n`);
      sent += 1;
    };
    while (sent < Math.min(DEPTH, PER_CONNECTION)) sendOne();
    while (received < PER_CONNECTION) {
      const response = JSON.parse(await s.readLine(10_000));
      if (response.status !== true || response.request_id !== received) throw new Error(`bad response ${JSON.stringify(response)}`);
      acks.set(`${stream}:${c}:${received}`, response.body.event.offset);
      received += 1;
      if (sent < PER_CONNECTION) sendOne();
    }
    s.close();
  }));
  t.equal(acks.size, CONNECTIONS * PER_CONNECTION, 'every write acknowledged');

  let stored = 0;
  for (const stream of ['shared', 'own-0', 'own-1', 'own-2', 'own-3', 'own-4']) {
    const events = engine.read(stream, 0, { maxEvents: 100_000, maxBytes: 64 * 1024 * 1024 });
    const lastSeq = new Map<number, number>();
    events.forEach((event, index) => {
      t.equal(event.offset, index);
      const { c, seq } = JSON.parse(event.payload.toString()) as { c: number; seq: number };
      if (seq !== (lastSeq.get(c) ?? -1) + 1) t.fail(`connection ${c} out of order in ${stream}: ${seq} after ${lastSeq.get(c)}`);
      lastSeq.set(c, seq);
      if (acks.get(`${stream}:${c}:${seq}`) !== event.offset) t.fail(`acknowledged offset differs for ${c}:${seq}`);
    });
    stored += events.length;
  }
  t.equal(stored, CONNECTIONS * PER_CONNECTION, 'stored exactly once: no loss, no duplicate');
});

t.test('a full in-flight window pauses reading; everything is still answered in order', async (t) => {
  const { port } = await serverFor(t, { limits: { maxInFlightRequests: 4, maxInFlightBytes: 1024 } });
  const s = await linesFor(t, port);
  await s.request({ operation: 'create_stream', body: { stream_name: 'w' } });
  let batch = '';
  for (let i = 0; i < 2000; i++) batch += `{"operation":"write_event","body":{"stream_name":"w","event":${i}},"request_id":${i}}\n`;
  s.write(batch);
  for (let i = 0; i < 2000; i++) {
    const r = JSON.parse(await s.readLine());
    if (r.request_id !== i || r.body.event.offset !== i) t.fail(`response ${i}: ${JSON.stringify(r)}`);
  }
  t.pass('2000 pipelined writes answered in order through a window of 4');
});
