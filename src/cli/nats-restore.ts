/**
 * `eventbus restore SNAPSHOT --nats-servers …` (a snapshot of the jetstream backend into a
 * cluster): the NATS servers, credentials and TLS files resolved and checked as `serve` resolves
 * and checks them (options, EVENTBUS_* variables, the config file's `backend:` section), the files
 * read before anything is done, then the restore (src/bus/jetstream/restore.ts).
 */
import { ErrorCodes, EventBusError } from '../errors.js';
import { resolveJetStreamOptions, type JetStreamOptions } from '../bus/jetstream/jetstream-options.js';
import { restoreJetStreamSnapshot } from '../bus/jetstream/restore.js';
import { loadConfig } from './config.js';
import { checkNatsFiles } from './nats-files.js';
import { natsAccessOf, natsServersOf, type NatsFlags } from './nats-options.js';

export interface NatsRestoreFlags extends NatsFlags {
  config?: string;
  json?: boolean;
}

/** The options of the restore; throws INVALID_FIELD (status 1) for a setting or file that cannot work. */
export function natsRestoreOptions(snapshot: string, flags: NatsRestoreFlags): JetStreamOptions {
  const section = flags.config === undefined || flags.config === '' ? {} : loadConfig(flags.config).backend;
  const servers = natsServersOf(flags, section);
  if (servers.length === 0) throw new EventBusError(ErrorCodes.INVALID_FIELD, `${snapshot} is a snapshot of the jetstream backend: restore it into a cluster with --nats-servers h1:p1,h2:p2,h3:p3 (or backend.servers in the --config file)`);
  const options: JetStreamOptions = { servers, ...natsAccessOf(flags, section) };
  if (section.requestTimeoutMs !== undefined) options.requestTimeoutMs = section.requestTimeoutMs as number;
  resolveJetStreamOptions(options);
  checkNatsFiles(options);
  return options;
}

/** Restores `snapshot` (a snapshot of the jetstream backend) into the cluster and prints what it restored. */
export async function natsRestoreCommand(snapshot: string, flags: NatsRestoreFlags, print: (line: string) => void): Promise<void> {
  const result = await restoreJetStreamSnapshot(snapshot, natsRestoreOptions(snapshot, flags));
  print(flags.json === true ? JSON.stringify({ snapshot, streams: result.streams, events: result.events }) : `restored ${snapshot} into the NATS cluster: ${result.streams} streams, ${result.events} events`);
}
