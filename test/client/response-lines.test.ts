/**
 * The client's reading side (src/client/response-lines.ts), shared by EventBusClient and
 * Subscription: framing across chunks, the line bound, lines that are not JSON, and failures
 * told by `reason` as the original Go client tells them. Against scripted servers, so the bytes
 * are exactly the ones under test.
 */
import net from 'node:net';
import t, { type Test } from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { ResponseLines } from '../../src/client/response-lines.js';

t.test('lines across chunks: UTF-8 split anywhere, several lines a chunk, the unfinished line bounded', async (t) => {
  const bytes = Buffer.from('{"a":"é🐢"}\n{"b":1}\n\n{"c":"日本"}\n', 'utf8');
  for (let cut = 1; cut < bytes.length; cut++) {
    const lines: string[] = [];
    const framing = new ResponseLines(1000);
    t.ok(framing.push(bytes.subarray(0, cut), (line) => lines.push(line)));
    t.ok(framing.push(bytes.subarray(cut), (line) => lines.push(line)));
    t.same(lines, ['{"a":"é🐢"}', '{"b":1}', '', '{"c":"日本"}'], `cut at byte ${cut}`);
  }
  const bounded = new ResponseLines(8);
  const seen: string[] = [];
  t.ok(bounded.push(Buffer.from('12345678'), (line) => seen.push(line)), 'up to the bound is kept');
  t.ok(bounded.push(Buffer.from('\n1234'), (line) => seen.push(line)), 'a line of the bound, completed');
  t.notOk(bounded.push(Buffer.from('56789'), (line) => seen.push(line)), 'an unfinished line past the bound is refused');
  t.same(seen, ['12345678']);
  const whole = new ResponseLines(8);
  const got: string[] = [];
  t.notOk(whole.push(Buffer.from('1234\n123456789012\n'), (line) => got.push(line)), 'a complete line past the bound, in one chunk, is refused too (maxResponseBytes: the longest line accepted)');
  t.same(got, ['1234'], 'the lines before it were handed on');
});

/** A server that answers each line it receives with the next of `answers` (as bytes, in pieces). */
async function scripted(t: Test, answers: string[]): Promise<number> {
  const server = net.createServer((socket) => {
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      for (let end = received.indexOf('\n'); end !== -1; end = received.indexOf('\n')) {
        received = received.slice(end + 1);
        const answer = Buffer.from(answers.shift() ?? '', 'utf8');
        // Split in the middle of every character: framing must hold a character across chunks.
        for (let at = 0; at < answer.length; at += 3) socket.write(answer.subarray(at, at + 3));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

t.test('the client: one bad line fails its request only; reason means failure; a line too long closes', async (t) => {
  const port = await scripted(t, [
    '{"operation":"health","status":true,"body":{"note":"é🐢日本"}}\n',
    'not json at all\n',
    '{"operation":"health","status":true,"reason":"stream \'x\' not found"}\n',
    '{"operation":"health","status":false,"reason":"too busy","code":"NO_SUCH_CODE"}\n',
    '{"operation":"health","status":false,"reason":"over quota","code":"quota.exceeded-v2"}\n',
    '{"operation":"health","status":false,"reason":"stream \'y\' not found","code":""}\n',
    '{"operation":"health","status":true}\n',
    `{"operation":"health","status":true,"body":"${'x'.repeat(300)}`, // and no end: the unfinished line passes the bound
  ]);
  const client = await EventBusClient.connect({ port, maxResponseBytes: 256 });
  t.teardown(() => client.close());
  t.same((await client.request('health')).body, { note: 'é🐢日本' }, 'characters split across chunks arrive whole');
  await t.rejects(client.health(), { code: 'CONNECTION_ERROR', reason: 'the server sent a line that is not JSON: not json at all' });
  await t.rejects(client.health(), { code: 'STREAM_NOT_FOUND' }, 'a reason is a failure whatever status says, its code mapped from the original reason');
  await t.rejects(client.health(), { code: 'NO_SUCH_CODE', reason: 'too busy' }, "a code this client does not know (a newer server's) is kept as sent, with its reason");
  await t.rejects(client.health(), { code: 'quota.exceeded-v2', reason: 'over quota' }, 'a code of any spelling is kept as sent, not turned into INTERNAL');
  await t.rejects(client.health(), { code: 'STREAM_NOT_FOUND' }, 'an empty code is no code: the reason is mapped as the original\'s');
  await client.health(); // the connection survived every one of them
  await t.rejects(client.health(), { code: 'CONNECTION_ERROR', reason: 'response line longer than 256 bytes' });
  await t.rejects(client.health(), { code: 'CONNECTION_ERROR' }, 'and the connection is closed');
});

t.test('a subscription: the same framing, the same errors', async (t) => {
  const events = (next: number) => `{"operation":"subscribe","status":true,"body":{"events":[{"id":"i","stream_id":"s","status":0,"created_at":"c","body":"é🐢","offset":${next - 1},"delivery_count":0}],"next_offset":${next}}}\n`;
  const cases: [string, string, { code: string; reason?: string; context?: object }][] = [
    ['not JSON', 'nope\n', { code: 'CONNECTION_ERROR', reason: 'the server sent a line that is not JSON: nope' }],
    ['a failure', '{"operation":"subscribe","status":false,"context":{"next_offset":1},"reason":"slow","code":"SLOW_CONSUMER"}\n', { code: 'SLOW_CONSUMER', reason: 'slow', context: { next_offset: 1 } }],
    ['an original reason', '{"operation":"subscribe","status":true,"reason":"stream \'o\' not found"}\n', { code: 'STREAM_NOT_FOUND' }],
    ['a line too long', `{"operation":"subscribe","status":true,"body":"${'x'.repeat(300)}`, { code: 'CONNECTION_ERROR', reason: 'response line longer than 256 bytes' }],
  ];
  for (const [name, last, error] of cases) {
    const port = await scripted(t, [events(1) + last]);
    const client = await EventBusClient.connect({ port, maxResponseBytes: 256 });
    const subscription = await client.subscribe('o');
    const bodies: unknown[] = [];
    await t.rejects((async () => {
      for await (const item of subscription) if (item.kind === 'event') bodies.push(item.event.body);
    })(), error, name);
    t.same(bodies, ['é🐢'], `${name}: the events before it, characters whole`);
    t.equal(subscription.nextOffset, 1);
    subscription.close();
    await client.close();
  }
});
