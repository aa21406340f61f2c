/**
 * Parsers of options that name a network place: `--port` (a usage error unless a whole number
 * from 0 to 65535; from 1 for the client commands, which connect to it), and the jetstream backend's `--nats-servers` and `--replicas` (usage errors
 * when jetstream-options.ts would refuse them), so a mistake is one line before anything starts.
 */
import { InvalidArgumentError } from 'commander';
import { REPLICA_COUNTS, serverAddressProblem } from '../bus/jetstream/jetstream-options.js';

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('It must be a whole number from 0 to 65535.');
  return port;
}

/** A client's `--port`: as {@link parsePort}, but 0 (serve's "any free port") names no server. */
export function parseServerPort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('It must be a whole number from 1 to 65535.');
  if (port === 0) throw new InvalidArgumentError("It must be a whole number from 1 to 65535 (0, any free port, is for 'eventbus serve').");
  return port;
}

/** `--nats-servers`: a comma-separated list of `host:port` (or `nats://`, `tls://` URLs), ports from 1 to 65535; kept as given. */
export function parseNatsServers(value: string): string {
  const servers = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) throw new InvalidArgumentError('It must list at least one NATS server, host:port,host:port,...');
  const problem = servers.map(serverAddressProblem).find((p) => p !== undefined);
  if (problem !== undefined) throw new InvalidArgumentError(`${problem}.`);
  return value;
}

/** `--replicas`: 1, 3 or 5. */
export function parseReplicas(value: string): number {
  const replicas = Number(value);
  if (!/^\d+$/.test(value) || !REPLICA_COUNTS.includes(replicas)) throw new InvalidArgumentError(`It must be ${REPLICA_COUNTS.slice(0, -1).join(', ')} or ${REPLICA_COUNTS[REPLICA_COUNTS.length - 1]}.`);
  return replicas;
}
