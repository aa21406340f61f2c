/**
 * A connection the server closes: the client's CONNECTION_ERROR says whether the server had
 * answered anything on it, and the CLI's hint about TLS (a TLS server closes a plain connection
 * without a word) is given only when it had not. A server that stopped after answering got the
 * TLS hint too, and so did a long-poll closed unanswered long after the connection opened (issue 14).
 */
import net from 'node:net';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { clientFailure } from '../../src/cli/command-failure.js';

/** A server that answers the first `answers` lines with a health reply, then closes the connection. */
async function closingServer(t: { teardown(fn: () => void): void }, answers: number): Promise<number> {
  const server = net.createServer((socket) => {
    let seen = 0;
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString();
      while (buffered.includes('\n')) {
        buffered = buffered.slice(buffered.indexOf('\n') + 1);
        if (seen++ < answers) socket.write('{"operation":"health","status":true}\n');
        else socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

const target = (port: number) => ({ host: '127.0.0.1', port, tls: false });

t.test('closed before any answer: said so, and the CLI hints at TLS', async (t) => {
  const port = await closingServer(t, 0);
  const client = await EventBusClient.connect({ port });
  const error = await client.health().then(() => null, (e: unknown) => e);
  t.match(error, { code: 'CONNECTION_ERROR', reason: 'the connection was closed before any answer' });
  t.match(clientFailure(error, target(port)).message, /a server with TLS\?/);
});

t.test('closed after answers: no TLS hint', async (t) => {
  const port = await closingServer(t, 1);
  const client = await EventBusClient.connect({ port });
  await client.health();
  const error = await client.health().then(() => null, (e: unknown) => e);
  t.match(error, { code: 'CONNECTION_ERROR', reason: 'the connection was closed' });
  t.notMatch(clientFailure(error, target(port)).message, /TLS/);
});

t.test('a long-poll that a server closes later, unanswered: "closed", and no TLS hint (the connection was up)', async (t) => {
  // A server that takes the request and closes the connection 2.5 s later, without a word (a
  // server killed while a long-poll waits on it); a TLS server closes at once.
  const server = net.createServer((socket) => {
    socket.once('data', () => setTimeout(() => socket.destroy(), 2500));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const client = await EventBusClient.connect({ port });
  const error = await client.processEvents('cw', { waitMs: 10_000 }).then(() => null, (e: unknown) => e);
  t.match(error, { code: 'CONNECTION_ERROR' });
  t.equal((error as { reason: string }).reason, 'the connection was closed', 'not "before any answer"');
  t.notMatch(clientFailure(error, target(port)).message, /TLS/);
});
