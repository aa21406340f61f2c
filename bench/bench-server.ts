/**
 * Starts a real `eventbus serve` process for a benchmark: a fresh data directory, --port 0, fsync
 * as asked, logs at warn. `stop()` sends SIGTERM, waits for the exit and removes the directory.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface BenchServer {
  port: number;
  dataDir: string;
  /** The server's process id (to sample its memory). */
  pid: number;
  stop(): Promise<void>;
}

export async function startServer(fsync: string, extraArgs: string[] = []): Promise<BenchServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'eventbus-bench-'));
  const portFile = path.join(dataDir, '..', `${path.basename(dataDir)}.port`);
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--port-file', portFile, '--data', path.join(dataDir, 'data'), '--fsync', fsync, '--log-level', 'warn', ...extraArgs], {
    stdio: ['ignore', 'inherit', 'inherit'],
    cwd: dataDir,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; !existsSync(portFile); i++) {
    if (i > 1000 || child.exitCode !== null) throw new Error('the server did not start');
    await new Promise((r) => setTimeout(r, 10));
  }
  const port = Number(readFileSync(portFile, 'utf8'));
  return {
    port,
    dataDir,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(portFile, { force: true });
    },
  };
}

