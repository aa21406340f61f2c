/**
 * Where the load generator connects: host, port, TLS and the credentials every request carries.
 * `openSockets` opens its connections (Nagle off), over TLS when asked.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface Endpoint {
  host: string;
  port: number;
  /** Connect with TLS using these options (e.g. `{ ca }`); undefined: plain TCP. */
  tls?: tls.ConnectionOptions;
  /** Sent in every eventbus request as the original's `auth` object. */
  auth?: { clientId: string; clientSecret: string };
}

/** 127.0.0.1:`port`, plain TCP, no credentials: the harness's servers. */
export function localEndpoint(port: number): Endpoint {
  return { host: '127.0.0.1', port };
}

/** Opens `count` connections to `endpoint` with Nagle off; rejects if any fails. */
export async function openSockets(endpoint: Endpoint, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < count; i++) sockets.push(await openSocket(endpoint));
  } catch (error) {
    for (const socket of sockets) socket.destroy();
    throw error;
  }
  return sockets;
}

function openSocket(endpoint: Endpoint): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const { host, port } = endpoint;
    const socket: net.Socket = endpoint.tls === undefined
      ? net.connect({ host, port })
      : tls.connect({ servername: net.isIP(host) === 0 ? host : undefined, ...endpoint.tls, host, port });
    socket.setNoDelay(true);
    socket.once(endpoint.tls === undefined ? 'connect' : 'secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
