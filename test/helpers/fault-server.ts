/**
 * The real `eventbus serve` process for the fault suites: started on a data directory that
 * survives it (restarts on the same data), killed with SIGKILL, its output kept. Unlike
 * server-process.ts, everything it creates (port file, working directory, config file) lives in
 * one directory of the test's, so a thousand restarts leave nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MAIN } from './server-process.js';

export interface FaultServer {
  port: number;
  pid: number;
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code, or the name of the signal that ended it. */
  exited: Promise<number | string>;
  /** SIGKILL, then waits for the process to be gone. */
  kill(): Promise<void>;
  /** SIGTERM (a clean stop), then waits; returns the exit code. */
  stop(): Promise<number | string>;
}

export interface FaultServerOptions {
  dataDir: string;
  /** Holds the port file, the config file and the working directory. */
  workDir: string;
  /** The `storage`/`consumers` settings of a config file, as YAML text; none if absent. */
  config?: string;
  env?: NodeJS.ProcessEnv;
  /** Default `warn`. */
  logLevel?: string;
  /** `--fsync`: default `always`. */
  fsync?: 'always' | 'interval' | 'never';
  /** Default 20 s (a recovering server reads its data first). */
  timeoutMs?: number;
  /** Called with the process as soon as it is spawned (to kill it before it listens). */
  onSpawn?(child: ChildProcess): void;
}

let starts = 0;

/** Starts the server and resolves once it listens (rejects with its output if it exits first). */
export function startFaultServer(options: FaultServerOptions): Promise<FaultServer> {
  const id = ++starts;
  const portFile = path.join(options.workDir, `port-${process.pid}-${id}`);
  fs.rmSync(portFile, { force: true });
  const args = [MAIN, 'serve', '--port', '0', '--port-file', portFile, '--data', options.dataDir, '--fsync', options.fsync ?? 'always', '--log-level', options.logLevel ?? 'warn'];
  if (options.config !== undefined) {
    const configFile = path.join(options.workDir, 'config.yaml');
    fs.writeFileSync(configFile, options.config);
    args.push('--config', configFile);
  }
  const child = spawn(process.execPath, args, { cwd: options.workDir, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  options.onSpawn?.(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const timeoutMs = options.timeoutMs ?? 20_000;
  const alive = () => child.exitCode === null && child.signalCode === null;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let done = false;
    void exited.then((code) => {
      if (done) return;
      done = true;
      fs.rmSync(portFile, { force: true });
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
    const poll = () => {
      if (done) return;
      let text = '';
      try {
        text = fs.readFileSync(portFile, 'utf8');
      } catch {
        // Not written yet.
      }
      if (text.endsWith('\n')) {
        done = true;
        fs.rmSync(portFile, { force: true });
        resolve({
          port: Number(text.trim()),
          pid: child.pid!,
          child,
          output: () => output,
          exited,
          async kill() {
            if (alive()) child.kill('SIGKILL');
            await exited;
          },
          stop() {
            if (alive()) child.kill('SIGTERM');
            return exited;
          },
        });
        return;
      }
      if (Date.now() - started > timeoutMs) {
        done = true;
        child.kill('SIGKILL');
        fs.rmSync(portFile, { force: true });
        reject(new Error(`server did not listen within ${timeoutMs} ms:\n${output}`));
        return;
      }
      setTimeout(poll, 5);
    };
    poll();
  });
}
