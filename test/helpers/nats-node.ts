/**
 * One throwaway `nats-server` with JetStream (Debian's package) on a free loopback port, TLS when
 * given a certificate, more configuration (authorization) when given it: for tests of how a
 * gateway or a restore connects and stops, where a 3-node cluster (nats-cluster.ts) is more than
 * needed. Only the process started here is signalled, by its pid.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { NATS_SERVER_BIN, freePort } from './nats-cluster.js';

export interface NatsNode {
  /** `127.0.0.1:<port>`. */
  url: string;
  child: ChildProcess;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/**
 * Starts it in `dir` (its config and store there); killed when `t` ends if still running.
 * `extraConf`: more of its config file (an `authorization` block, say).
 */
export async function startNatsNode(t: { teardown(fn: () => void): void }, dir: string, tls?: { cert: string; key: string }, extraConf = ''): Promise<NatsNode> {
  const port = await freePort();
  const conf = path.join(dir, `nats-${port}.conf`);
  const tlsBlock = tls === undefined ? '' : `tls { cert_file: "${tls.cert}", key_file: "${tls.key}" }\n`;
  writeFileSync(conf, `listen: 127.0.0.1:${port}\njetstream { store_dir: "${path.join(dir, `store-${port}`)}" }\n${tlsBlock}${extraConf}\n`);
  const child = spawn(NATS_SERVER_BIN, ['-c', conf], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  t.teardown(() => {
    if (running()) child.kill('SIGKILL');
  });
  const node = { url: `127.0.0.1:${port}`, child, kill: async () => {
    if (running()) child.kill('SIGKILL');
    await exited;
  } };
  for (let i = 0; i < 100; i++) {
    if (!running()) break;
    // Up once it greets (its INFO line).
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => socket.once('data', () => (socket.destroy(), resolve(true))));
      socket.on('error', () => resolve(false));
    });
    if (up) return node;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await node.kill();
  throw new Error(`nats-server did not listen on ${port}`);
}

/**
 * A self-signed certificate (its own CA) and its key, for localhost: nats.js checks a server
 * named by an IP address against the name localhost, whatever the address. Needs openssl.
 */
export function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'nats-cert.pem');
  const key = path.join(dir, 'nats-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  return { cert, key };
}
