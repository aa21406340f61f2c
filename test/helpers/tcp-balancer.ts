/**
 * A round-robin TCP load balancer in front of several gateways: each new connection goes to the
 * next one, as behind any TCP balancer. Lets the wire suites run against two gateways at once.
 */
import net from 'node:net';

export interface Balancer {
  port: number;
  /** Where new connections go from now on. */
  setPorts(ports: readonly number[]): void;
  close(): Promise<void>;
}

export async function startBalancer(initial: readonly number[]): Promise<Balancer> {
  let ports = [...initial];
  let next = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const target = ports[next++ % ports.length]!;
    const upstream = net.connect({ port: target, host: '127.0.0.1', allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    setPorts(next) {
      ports = [...next];
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
