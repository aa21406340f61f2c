/**
 * The echo server (bench/echo-server.ts) as a system: the same write requests as eventbus, the
 * same generator, nothing stored. Its rate is the ceiling eventbus's writes are measured against.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { closedLoop } from '../../src/cli/bench/closed-loop.js';
import { localEndpoint } from '../../src/cli/bench/endpoint.js';
import { WRITE_OK, writeLine } from '../../src/cli/bench/eventbus-load.js';
import { lineFramer } from '../../src/cli/bench/line-framer.js';
import { payload } from '../../src/cli/bench/payload.js';
import { spawnTracked, waitUntil } from '../core/processes.js';
import type { RunningSystem, SystemDefinition } from './system.js';

const ECHO_MAIN = fileURLToPath(new URL('../echo-server.js', import.meta.url));

export const echo: SystemDefinition = {
  id: 'echo',
  label: 'Node JSON-lines echo',
  durability: 'none',
  durabilityNote: 'stores nothing: the ceiling of Node + TCP',
  durabilityShort: 'stores nothing',
  missing: () => (existsSync(ECHO_MAIN) ? null : `not built: run \`npm run build\` (${ECHO_MAIN} is missing)`),
  async start(): Promise<RunningSystem> {
    const server = spawnTracked(process.execPath, [ECHO_MAIN]);
    await waitUntil(() => /^\d+\n/.test(server.output()) || server.child.exitCode !== null, 10_000, () => new Error(`the echo server did not start:\n${server.output()}`));
    if (server.child.exitCode !== null) throw new Error(`the echo server exited at start:\n${server.output()}`);
    const port = Number(server.output().trim().split('\n')[0]);
    return {
      id: 'echo',
      version: process.version,
      pid: server.child.pid!,
      port,
      write: (spec) => closedLoop({
        endpoint: localEndpoint(port),
        connections: spec.connections,
        depth: spec.depth,
        request: Buffer.from(writeLine(spec.key, payload(spec.sizeBytes))),
        framer: () => lineFramer(WRITE_OK),
        durationMs: spec.durationMs,
        progress: spec.progress,
      }),
      async stop() {
        await server.stop('SIGTERM');
      },
    };
  },
};
