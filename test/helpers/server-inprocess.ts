/** Starts an EventBusServer in this process over a fresh store, for fast protocol tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventBusServer, type ServerOptions } from '../../src/server/server.js';
import { Engine, type EngineOptions } from '../../src/storage/engine.js';

export interface InProcessServer {
  server: EventBusServer;
  engine: Engine;
  port: number;
  dataDir: string;
  /** Closes the server, then the engine, then removes the data directory. */
  close(): Promise<void>;
}

export async function startInProcess(
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
