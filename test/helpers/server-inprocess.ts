/** Starts an EventBusServer in this process over a fresh store, for fast protocol tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventBusServer, type ServerOptions } from '../../src/server/server.js';
import { Engine, type EngineOptions } from '../../src/storage/engine.js';
import type { JetStreamOptions } from '../../src/bus/jetstream/jetstream-options.js';
import { startGateway, testNatsServers, type Gateway } from './jetstream-gateway.js';
import { startBalancer } from './tcp-balancer.js';

export interface InProcessServer {
  server: EventBusServer;
  engine: Engine;
  port: number;
  dataDir: string;
  /** Closes the server, then the engine, then removes the data directory. */
  close(): Promise<void>;
}

/**
 * Under `EVENTBUS_TEST_BACKEND=jetstream` (test/jetstream/suites.test.ts sets it), a gateway on
 * the test cluster instead, or `EVENTBUS_TEST_GATEWAYS` of them behind a round-robin balancer;
 * its close deletes every stream, so each test starts from an empty cluster. `engine` is then
 * undefined: tests that read the engine directly are not run on that backend.
 */
export async function startInProcess(
  options: Omit<ServerOptions, 'engine'> & { engineOptions?: Partial<EngineOptions>; keepData?: boolean } = {},
): Promise<InProcessServer> {
  const natsServers = testNatsServers();
  if (natsServers !== undefined) return startGateways(natsServers, options);
  return startEngine(options);
}

async function startGateways(servers: string[], options: Omit<ServerOptions, 'engine'> & { engineOptions?: Partial<EngineOptions> }): Promise<InProcessServer> {
  const { engineOptions, keepData: _k, ...serverOptions } = options as typeof options & { keepData?: boolean };
  void _k;
  const count = Number(process.env.EVENTBUS_TEST_GATEWAYS ?? '1');
  const jetstream: Partial<JetStreamOptions> = {};
  if (engineOptions?.consumers !== undefined) jetstream.consumers = engineOptions.consumers;
  if (engineOptions?.maxEventBytes !== undefined) jetstream.maxEventBytes = engineOptions.maxEventBytes;
  const gateways: Gateway[] = [];
  for (let i = 0; i < count; i++) gateways.push(await startGateway(servers, { ...serverOptions, jetstream }));
  const balancer = count > 1 ? await startBalancer(gateways.map((g) => g.port)) : undefined;
  return {
    server: gateways[0]!.server,
    engine: undefined as unknown as Engine,
    port: balancer?.port ?? gateways[0]!.port,
    dataDir: '',
    async close() {
      await balancer?.close();
      const store = gateways[0]!.store;
      for (const stream of (await store.listStreams({ fromName: undefined, maxStreams: 1000 })).streams) await store.deleteStream(stream.name).catch(() => {});
      for (const gateway of gateways) await gateway.close();
    },
  };
}

async function startEngine(
  options: Omit<ServerOptions, 'engine'> & { engineOptions?: Partial<EngineOptions>; keepData?: boolean } = {},
): Promise<InProcessServer> {
  const dataDir = options.engineOptions?.dataDir ?? mkdtempSync(path.join(tmpdir(), 'eventbus-inproc-'));
  const engine = await Engine.open({ ...options.engineOptions, dataDir });
  const { engineOptions: _e, keepData, ...serverOptions } = options;
  void _e;
  const snapshotsRoot = path.join(dataDir, '..', `${path.basename(dataDir)}-snapshots`);
  const server = await EventBusServer.start({ port: 0, ...serverOptions, bus: { snapshotsRoot, ...serverOptions.bus }, engine });
  return {
    server,
    engine,
    port: server.port,
    dataDir,
    async close() {
      await server.close();
      await engine.close();
      if (keepData !== true) {
        rmSync(dataDir, { recursive: true, force: true });
        rmSync(snapshotsRoot, { recursive: true, force: true });
      }
    },
  };
}

/** Starts a server for the test `t` and closes it when the test ends. */
export async function serverFor(
  t: { teardown(fn: () => Promise<void>): void },
  options: Parameters<typeof startInProcess>[0] = {},
): Promise<InProcessServer> {
  const started = await startInProcess(options);
  t.teardown(() => started.close());
  return started;
}
