/**
 * How a gateway (`eventbus serve --backend jetstream`, the real process) connects to NATS: a
 * `tls://` server URL requires TLS (nats.js drops a URL's scheme and, without a TLS option, uses
 * TLS only where the server offers it); with a CA given, TLS to a server that offers it works.
 * A single nats-server (helpers/nats-node.ts).
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { natsSkip } from '../helpers/nats-cluster.js';
import { makeCertificate, startNatsNode } from '../helpers/nats-node.js';
import { MAIN, startServerProcess, tempDir } from '../helpers/server-process.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const skip = natsSkip().skip ?? (hasOpenssl ? undefined : 'needs openssl');

function runServe(args: string[], timeoutMs = 30_000): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [MAIN, 'serve', '--port', '0', '--log-level', 'warn', '--backend', 'jetstream', '--replicas', '1', ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

t.test('tls:// requires TLS: a server without it is refused at start, not used in plain text', { skip }, async (t) => {
  const dir = tempDir(t, 'eventbus-natstls-');
  const plain = await startNatsNode(t, dir);
  const started = Date.now();
  // Before the fix the gateway connected in plain text and served: this run timed out listening.
  const run = runServe(['--nats-servers', `tls://${plain.url}`], 20_000);
  t.equal(run.status, 1, `exit status 1 (${run.stderr.trim()})`);
  t.match(run.stderr, new RegExp(`^eventbus: cannot connect to NATS at tls://${plain.url.replace(/\./g, '\\.')}: [^\\n]*TLS[^\\n]*\\n$`), 'one line saying TLS is required and not offered');
  t.ok(Date.now() - started < 15_000, 'at once');
});

t.test('tls:// with the CA of a server that offers TLS: the gateway serves', { skip }, async (t) => {
  const dir = tempDir(t, 'eventbus-natstls-');
  const certificate = makeCertificate(dir);
  const node = await startNatsNode(t, dir, certificate);
  const gateway = await startServerProcess({ args: ['--backend', 'jetstream', '--replicas', '1', '--nats-servers', `tls://${node.url.replace('127.0.0.1', 'localhost')}`, '--nats-tls-ca', certificate.cert], timeoutMs: 30_000 });
  t.teardown(() => gateway.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: gateway.port });
  t.teardown(() => client.close());
  await client.createStream('s');
  t.match(await client.writeEvent('s', { n: 1 }), { offset: 0 });
  await client.close();
  t.equal(await gateway.stop(), 0, 'stops cleanly');
});
