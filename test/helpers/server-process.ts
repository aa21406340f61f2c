/**
 * Starts the real `eventbus serve` (dist/src/cli/main.js) as a child process on a free port
 * (`--port 0 --port-file`), for tests that need the whole program: signals, restarts, the CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/src/cli/main.js, from dist/test/helpers. */
export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface ServerProcess {
  port: number;
  dataDir: string;
  cwd: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /**
   * Resolves with the output once it matches `pattern` (a log line may reach the pipe after the
   * port file is written); rejects after `timeoutMs` or if the process exits first.
   */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** SIGTERM (or `signal`), then waits for exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface StartOptions {
  /** Reuse a data directory (restart); default a fresh temporary one. */
  dataDir?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Leave out `--data` and `--log-level warn` (to test their fallbacks). */
  noDefaultFlags?: boolean;
  /** Working directory; default a fresh temporary one. */
  cwd?: string;
  /** Give up waiting for the port after this long. Default 10 s. */
  timeoutMs?: number;
  /** A command that execs the server (keeping its pid), e.g. `['prlimit', '--nofile=300:300']`. */
  wrapper?: string[];
}

/** A fresh temporary directory, removed when the test ends. */
export function tempDir(t: { teardown(fn: () => void): void }, prefix = 'eventbus-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Directories this module made for callers that gave none (a data directory, a working
 * directory): removed when the test file's process exits, not when the server does, since a
 * test may restart a server on its data (or read what it left) after stopping it.
 */
const madeHere = new Set<string>();
process.once('exit', () => {
  for (const dir of madeHere) rmSync(dir, { recursive: true, force: true });
});

function madeTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  madeHere.add(dir);
  return dir;
}

export function startServerProcess(options: StartOptions = {}): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? madeTempDir('eventbus-data-');
  const portDir = mkdtempSync(path.join(tmpdir(), 'eventbus-port-'));
  const portFile = path.join(portDir, 'port');
  // A working directory of its own: relative paths (./snapshots) land there, not in the repo.
  const cwd = options.cwd ?? madeTempDir('eventbus-cwd-');
  const defaults = options.noDefaultFlags === true ? [] : ['--data', dataDir, '--log-level', 'warn'];
  const argv = [process.execPath, MAIN, 'serve', '--port', '0', '--port-file', portFile, ...defaults, ...(options.args ?? [])];
  const [command, ...rest] = [...(options.wrapper ?? []), ...argv];
  const child = spawn(command!, rest, {
    cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => {
    rmSync(portDir, { recursive: true, force: true });
    resolve(code ?? signal ?? -1);
  }));
  // Generous: a loaded CI machine can take seconds to start a Node process.
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let done = false;
    void exited.then((code) => {
      if (!done) {
        done = true;
        reject(new Error(`server exited with ${code} before listening:\n${output}`));
      }
    });
    const poll = () => {
      if (done) return;
      if (existsSync(portFile)) {
        done = true;
        const port = Number(readFileSync(portFile, 'utf8').trim());
        resolve({
          port,
          dataDir,
          cwd,
          child,
          output: () => output,
          waitForOutput: (pattern: RegExp, waitMs = 10_000) => waitForOutput(() => output, exited, pattern, waitMs),
          exited,
          stop: (signal: NodeJS.Signals = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
        return;
      }
      if (Date.now() - started > timeoutMs) {
        done = true;
        child.kill('SIGKILL');
        reject(new Error(`server did not listen within ${timeoutMs} ms:\n${output}`));
        return;
      }
      setTimeout(poll, 10);
    };
    poll();
  });
}

async function waitForOutput(output: () => string, exited: Promise<unknown>, pattern: RegExp, timeoutMs: number): Promise<string> {
  let ended = false;
  void exited.then(() => (ended = true));
  const until = Date.now() + timeoutMs;
  while (!pattern.test(output())) {
    if (ended || Date.now() > until) throw new Error(`the server's output did not match ${pattern} ${ended ? 'before it exited' : `within ${timeoutMs} ms`}:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return output();
}

/**
 * {@link startServerProcess} for the test `t`: its data and working directories are temporary
 * ones removed when the test ends (unless given), and the process is killed then if still running.
 */
export async function serverProcessFor(t: { teardown(fn: () => void | Promise<void>): void }, options: StartOptions = {}): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? path.join(tempDir(t, 'eventbus-data-'), 'data');
  const cwd = options.cwd ?? tempDir(t, 'eventbus-cwd-');
  const server = await startServerProcess({ ...options, dataDir, cwd });
  t.teardown(async () => {
    await server.stop('SIGKILL');
  });
  return server;
}
