/**
 * Child processes and temporary directories of a benchmark run, tracked so that nothing is left
 * behind: every system is stopped and every directory removed at the end, on an error, and on
 * Ctrl-C (SIGINT/SIGTERM kill the children, remove the directories and exit).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const children = new Set<ChildProcess>();
const directories = new Set<string>();

/** The full path of an executable on PATH (or in the sbin directories, where Debian puts nats-server). */
export function which(command: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** A port free on 127.0.0.1 right now (for servers that cannot report the port they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A fresh directory under the system's temporary directory, removed by `removeTempDir` or at exit. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  directories.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  directories.delete(dir);
}

export interface TrackedChild {
  child: ChildProcess;
  /** The last 16 KiB of what the process wrote to stdout and stderr. */
  output(): string;
  /** Resolves with the exit code, or the signal's name. */
  exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM); SIGKILL if it has not exited after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

const OUTPUT_KEPT_BYTES = 16 * 1024;

export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): TrackedChild {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > OUTPUT_KEPT_BYTES) output = output.slice(-OUTPUT_KEPT_BYTES);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? -1);
    });
    child.once('error', (error) => {
      children.delete(child);
      output += String(error);
      resolve(-1);
    });
  });
  return {
    child,
    output: () => output,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Polls `ready` every 20 ms until it is true; throws `failure()` on timeout. */
export async function waitUntil(ready: () => Promise<boolean> | boolean, timeoutMs: number, failure: () => Error): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > until) throw failure();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Kills every child still running and removes every temporary directory (synchronously). */
export function cleanUpNow(): void {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
  directories.clear();
}

let installed = false;

/** On SIGINT, SIGTERM, SIGHUP (the terminal closed) or an unexpected exit: leave nothing running and nothing on disk. */
export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanUpNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      // The live display hides the cursor; give it back.
      if (process.stderr.isTTY === true) process.stderr.write('\x1b[?25h');
      process.stderr.write(`\n${signal}: stopping every system and removing temporary data\n`);
      cleanUpNow();
      process.exit(130);
    });
  }
}

/** How {@link runJsonChild} treats a child's lines. */
export interface JsonChildOptions {
  /** Lines with a `progress` field report it here instead of becoming the result. */
  onProgress?: (progress: number) => void;
  /** SIGKILL the child once it prints `{"ready":1}` (a kill in mid-work is the point). */
  killWhenReady?: boolean;
  /** A child that ends by SIGKILL (ours, or its own: an unclean stop) has finished, not failed. */
  killedIsDone?: boolean;
  /** Options for node before the script (e.g. `--expose-gc`). */
  nodeOptions?: string[];
}

/**
 * Runs `node script ...args`, a bench child that prints JSON lines; resolves with the last line
 * that is not progress. Throws with the child's output if it printed none or failed.
 */
export async function runJsonChild(script: string, args: string[], options: JsonChildOptions = {}): Promise<Record<string, number>> {
  const proc = spawnTracked(process.execPath, [...(options.nodeOptions ?? []), script, ...args]);
  let last: Record<string, number> | null = null;
  let buffered = '';
  proc.child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines.filter((l) => l.trim() !== '')) {
      const value = JSON.parse(line) as Record<string, number>;
      if (value.progress !== undefined) {
        options.onProgress?.(value.progress);
        continue;
      }
      last = value;
      if (options.killWhenReady === true && value.ready === 1) proc.child.kill('SIGKILL');
    }
  });
  const status = await proc.exited;
  const killed = options.killedIsDone === true && status === 'SIGKILL';
  if (last === null || (status !== 0 && !killed)) throw new Error(`bench child ${path.basename(script)} ${args[0] ?? ''} ended with ${status}:\n${proc.output()}`);
  return last;
}
