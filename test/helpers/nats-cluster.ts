/**
 * A throwaway 3-node NATS JetStream cluster of real `nats-server` processes (Debian's package):
 * free loopback ports, a temporary store directory per node, full-mesh routes, ready once every
 * node agrees on a JetStream meta leader. kill -9 and restart of one node; stop of all. Only the
 * processes this helper started are ever signalled, by their pid.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The message tests skip with when the server is missing. */
export const NATS_INSTALL_HINT = "install Debian's nats-server: apt-get install nats-server";

/** Debian installs it as /usr/sbin/nats-server (not on a non-root PATH); NATS_SERVER_BIN overrides. */
export const NATS_SERVER_BIN =
  process.env.NATS_SERVER_BIN ?? ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((p) => existsSync(p)) ?? 'nats-server';

/** True when nats-server runs here. */
export function natsServerAvailable(): boolean {
  try {
    execFileSync(NATS_SERVER_BIN, ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** The skip option for tap: `{ skip: NATS_INSTALL_HINT }` when the server is missing. */
export function natsSkip(): { skip?: string } {
  return natsServerAvailable() ? {} : { skip: NATS_INSTALL_HINT };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function getJson(url: string, timeoutMs = 1000): Promise<Record<string, unknown>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return (await (await fetch(url, { signal: controller.signal })).json()) as Record<string, unknown>;
  } finally {
    clearTimeout(timer);
  }
}

interface NatsNode {
  name: string;
  storeDir: string;
  confFile: string;
  logFile: string;
  port: number;
  clusterPort: number;
  httpPort: number;
  proc: ChildProcess | null;
}

export interface NatsCluster {
  dir: string;
  /** `127.0.0.1:<port>` of each node. */
  servers: string[];
  nodes: readonly NatsNode[];
  /** Signals node i (default SIGKILL) and waits for its exit. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped node again (same ports and store) and waits until it is healthy. */
  restart(i: number): Promise<void>;
  /** Waits until every running node agrees on a meta leader. */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  /** Stops every node and removes the directory. */
  stop(): Promise<void>;
}

function configText(node: NatsNode, all: NatsNode[], clusterName: string): string {
  const routes = all.filter((n) => n !== node).map((n) => `nats-route://127.0.0.1:${n.clusterPort}`);
  return `server_name: ${node.name}
listen: 127.0.0.1:${node.port}
http: 127.0.0.1:${node.httpPort}
max_payload: 8MB
jetstream {
  store_dir: "${node.storeDir}"
  max_memory_store: 268435456
  max_file_store: 4294967296
}
cluster {
  name: ${clusterName}
  listen: 127.0.0.1:${node.clusterPort}
  routes: [${routes.join(', ')}]
}
`;
}

/** Start attempts of a cluster whose node exited while starting (a port taken between its pick and its bind). */
const START_ATTEMPTS = 3;

/** Starts `size` (default 3) nats-server processes forming one JetStream cluster. */
export async function startNatsCluster(options: { size?: number; readyTimeoutMs?: number } = {}): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(options);
    } catch (error) {
      // Free ports are picked, released, then bound by nats-server: another process (a test file
      // beside this one) can take one in between. That node exits; new ports are picked.
      if (attempt >= START_ATTEMPTS || !/ exited; see /.test((error as Error).message)) throw error;
    }
  }
}

async function startNatsClusterOnce(options: { size?: number; readyTimeoutMs?: number }): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const dir = mkdtempSync(path.join(tmpdir(), 'eventbus-nats-'));
  const nodes: NatsNode[] = [];
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`;
    const nodeDir = path.join(dir, name);
    mkdirSync(path.join(nodeDir, 'store'), { recursive: true });
    nodes.push({ name, storeDir: path.join(nodeDir, 'store'), confFile: path.join(nodeDir, 'nats.conf'), logFile: path.join(nodeDir, 'nats.log'), port: await freePort(), clusterPort: await freePort(), httpPort: await freePort(), proc: null });
  }
  for (const node of nodes) writeFileSync(node.confFile, configText(node, nodes, `eb${process.pid}`));

  const startNode = (i: number) => {
    const node = nodes[i]!;
    const out = openSync(node.logFile, 'a');
    const proc = spawn(NATS_SERVER_BIN, ['-c', node.confFile], { stdio: ['ignore', out, out] });
    closeSync(out);
    node.proc = proc;
    proc.on('error', () => {
      if (node.proc === proc) node.proc = null;
    });
    proc.on('exit', () => {
      if (node.proc === proc) node.proc = null;
    });
  };
  const waitHealthy = async (node: NatsNode) => {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      try {
        if ((await getJson(`http://127.0.0.1:${node.httpPort}/healthz`)).status === 'ok') return;
      } catch {
        // not up yet
      }
      if (node.proc === null) throw new Error(`${node.name} exited; see ${node.logFile}`);
      if (Date.now() > deadline) throw new Error(`${node.name} not healthy in ${readyTimeoutMs} ms`);
      await sleep(100);
    }
  };
  const kill = async (i: number, signal: NodeJS.Signals = 'SIGKILL') => {
    const proc = nodes[i]!.proc;
    if (proc === null) return;
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await gone;
  };
  const waitForMetaLeader = async (timeoutMs = readyTimeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leaders: string[] = [];
      for (const node of nodes.filter((n) => n.proc !== null)) {
        try {
          leaders.push(String((await getJson(`http://127.0.0.1:${node.httpPort}/jsz`)).meta_cluster ? ((await getJson(`http://127.0.0.1:${node.httpPort}/jsz`)).meta_cluster as { leader?: string }).leader ?? '' : ''));
        } catch {
          leaders.push('');
        }
      }
      if (leaders.length > 0 && leaders[0] !== '' && leaders.every((l) => l === leaders[0])) return leaders[0]!;
      if (Date.now() > deadline) throw new Error(`no JetStream meta leader in ${timeoutMs} ms`);
      await sleep(100);
    }
  };
  const onExit = () => {
    for (const node of nodes) if (node.proc?.pid !== undefined) try { process.kill(node.proc.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  process.once('exit', onExit);
  const cluster: NatsCluster = {
    dir,
    servers: nodes.map((n) => `127.0.0.1:${n.port}`),
    nodes,
    kill,
    async restart(i) {
      startNode(i);
      await waitHealthy(nodes[i]!);
    },
    waitForMetaLeader,
    async stop() {
      for (let i = 0; i < nodes.length; i++) await kill(i, 'SIGTERM').catch(() => {});
      process.removeListener('exit', onExit);
      if (process.env.EVENTBUS_KEEP_TEST_DIRS !== '1') rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < size; i++) startNode(i);
    for (const node of nodes) await waitHealthy(node);
    await waitForMetaLeader();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
