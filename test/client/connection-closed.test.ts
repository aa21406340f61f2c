/**
 * A connection the server closes: the client's CONNECTION_ERROR says whether the server had
 * answered anything on it, and the CLI's hint about TLS (a TLS server closes a plain connection
 * without a word) is given only when it had not. A server that stopped after answering got the
 * TLS hint too.
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
