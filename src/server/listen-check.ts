/**
 * Whether the server could listen on an address, checked before the store is opened, so that a
 * port in use (or a host that is not this machine's) is one line at start-up, with nothing
 * opened or created first. The real listen can still lose a race; it reports the same way.
 */
import net from 'node:net';
import { ErrorCodes, EventBusError } from '../errors.js';

/** `host:port`, an IPv6 address in brackets (`[::1]:8080`) so that the port can be told from it. */
export function listenAddress(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The error for a failed listen on `host:port`, in words a person can act on; `option` is the one that sets the port. */
export function listenError(host: string, port: number, error: unknown, option = '--port'): EventBusError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'EADDRINUSE' ? `port ${port} is in use by another process (choose another with ${option}, or 0 for any free one)`
      : code === 'EACCES' ? `permission denied (ports below 1024 need privileges)`
        : code === 'EADDRNOTAVAIL' ? `${host} is not an address of this machine`
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? `${host} cannot be resolved`
            : (error as Error).message;
  return new EventBusError(ErrorCodes.IO_ERROR, `cannot listen on ${listenAddress(host, port)}: ${why}`, { cause: error });
}

/** An address the server will listen on, and the option that sets its port (for the hint). */
export interface ListenAddress {
  host: string;
  port: number;
  option: string;
}

/**
 * Resolves when every address can be listened on now, all at once (each is held while the next
 * is tried, so two that would take each other's port fail too); rejects with
 * {@link listenError} for the first that cannot. Port 0 always can.
 */
export async function checkCanListen(addresses: readonly ListenAddress[]): Promise<void> {
  const held: { probe: net.Server; address: ListenAddress }[] = [];
  try {
    for (const address of addresses) {
      const { host, port, option } = address;
      if (port === 0) continue;
      const probe = net.createServer();
      await new Promise<void>((resolve, reject) => {
        probe.once('error', (error) => {
          // Taken by the server's own other port (the same port, on the same or an overlapping host).
          const clash = held.find((h) => h.address.port === port)?.address;
          reject(clash !== undefined && (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
            ? new EventBusError(ErrorCodes.IO_ERROR, `cannot listen on ${listenAddress(host, port)}: port ${port} is already the one of ${clash.option} (on ${clash.host}); choose another with ${option}, or 0 for any free one`, { cause: error })
            : listenError(host, port, error, option));
        });
        probe.listen({ host, port, exclusive: true }, () => {
          held.push({ probe, address });
          resolve();
        });
      });
    }
  } finally {
    await Promise.all(held.map(({ probe }) => new Promise<void>((resolve) => probe.close(() => resolve()))));
  }
}
