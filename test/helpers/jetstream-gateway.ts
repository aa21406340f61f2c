/**
 * Gateways (EventBusServers over a JetStreamStore) in this process, on a test NATS cluster.
 * `EVENTBUS_TEST_BACKEND=jetstream` with `EVENTBUS_TEST_NATS_SERVERS=h:p,...` makes the shared
 * in-process helpers (server-inprocess.ts) start one instead of an engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JetStreamStore } from '../../src/bus/jetstream/jetstream-store.js';
import type { JetStreamOptions } from '../../src/bus/jetstream/jetstream-options.js';
import { EventBusServer, type ServerOptions } from '../../src/server/server.js';

export interface Gateway {
  server: EventBusServer;
  store: JetStreamStore;
  port: number;
  close(): Promise<void>;
}

/** Starts a gateway on `servers`; `replicas` default 3. */
export async function startGateway(servers: string[], options: Omit<ServerOptions, 'engine'> & { jetstream?: Partial<JetStreamOptions> } = {}): Promise<Gateway> {
  const { jetstream, ...serverOptions } = options;
  const store = await JetStreamStore.open({ servers, replicas: servers.length >= 3 ? 3 : 1, ...jetstream });
  const snapshotsRoot = mkdtempSync(path.join(tmpdir(), 'eventbus-gw-snapshots-'));
  let server: EventBusServer;
  try {
    server = await EventBusServer.start({ port: 0, ...serverOptions, bus: { snapshotsRoot, ...serverOptions.bus }, engine: store });
  } catch (error) {
    await store.close();
    throw error;
  }
  return {
    server,
    store,
    port: server.port,
    async close() {
      await server.close();
      await store.close();
      rmSync(snapshotsRoot, { recursive: true, force: true });
    },
  };
}

/** The test cluster named by the environment, or undefined (run on the engine). */
export function testNatsServers(): string[] | undefined {
  if (process.env.EVENTBUS_TEST_BACKEND !== 'jetstream') return undefined;
  const servers = process.env.EVENTBUS_TEST_NATS_SERVERS?.split(',').filter((s) => s !== '');
  if (servers === undefined || servers.length === 0) throw new Error('EVENTBUS_TEST_BACKEND=jetstream needs EVENTBUS_TEST_NATS_SERVERS');
  return servers;
}
