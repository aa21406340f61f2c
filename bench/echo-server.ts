/**
 * The ceiling of Node + TCP for this protocol's shape: a minimal JSON-lines server that parses
 * each request line and answers it with a small stringified reply, in order, one socket write per
 * chunk received. No storage, no validation beyond JSON.parse. Run as its own process (like the
 * eventbus server) by the harness's `echo` system; prints its port on stdout.
 *
 *   node dist/bench/echo-server.js [port]
 */
import net from 'node:net';

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let carry = '';
  socket.on('data', (chunk: Buffer) => {
    const lines = (carry + chunk.toString('utf8')).split('\n');
    carry = lines.pop()!;
    let out = '';
    for (const line of lines) {
      if (line === '') continue;
      try {
        const request = JSON.parse(line) as { operation?: unknown };
        out += `${JSON.stringify({ operation: request.operation, status: true })}\n`;
      } catch {
        out += '{"operation":"decode_request","status":false}\n';
      }
    }
    if (out !== '') socket.write(out);
  });
  socket.on('error', () => socket.destroy());
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
