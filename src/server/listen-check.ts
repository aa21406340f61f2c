/**
 * Whether the server could listen on an address, checked before the store is opened, so that a
 * port in use (or a host that is not this machine's) is one line at start-up, with nothing
 * opened or created first. The real listen can still lose a race; it reports the same way.
 */
import net from 'node:net';
import { ErrorCodes, EventBusError } from '../errors.js';

/** The error for a failed listen on `host:port`, in words a person can act on. */
export function listenError(host: string, port: number, error: unknown): EventBusError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'EADDRINUSE' ? `port ${port} is in use by another process (choose another with --port, or 0 for any free one)`
      : code === 'EACCES' ? `permission denied (ports below 1024 need privileges)`
        : code === 'EADDRNOTAVAIL' ? `${host} is not an address of this machine`
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? `${host} cannot be resolved`
            : (error as Error).message;
  return new EventBusError(ErrorCodes.IO_ERROR, `cannot listen on ${host}:${port}: ${why}`, { cause: error });
}

/** Resolves when `host:port` can be listened on now; rejects with {@link listenError} otherwise. Port 0 always can. */
export async function checkCanListen(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error) => reject(listenError(host, port, error)));
    probe.listen({ host, port, exclusive: true }, () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
