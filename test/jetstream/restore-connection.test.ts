/**
 * How `eventbus restore SNAPSHOT --nats-servers …` (the real process) connects to NATS: with the
 * gateway's credential and TLS options (--nats-creds, --nats-tls-ca, …, or the config file's
 * backend: section), checked before anything is done; a tls:// server URL requires TLS. Single
 * nats-servers (helpers/nats-node.ts) requiring credentials or TLS; the snapshot is taken from a
 * plain one.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect, credsAuthenticator, nkeys, type ConnectionOptions } from 'nats';
import t from 'tap';
import { EventBus } from '../../src/bus/bus.js';
import { JetStreamStore } from '../../src/bus/jetstream/jetstream-store.js';
import { natsSkip } from '../helpers/nats-cluster.js';
import { makeCertificate, startNatsNode } from '../helpers/nats-node.js';
import { MAIN, tempDir } from '../helpers/server-process.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const skip = natsSkip().skip ?? (hasOpenssl ? undefined : 'needs openssl');

/**
 * A credentials file for a new NKey user, and the server's `authorization` block admitting it.
 * The server here knows the user by its public NKey (no operator): it checks the nonce's
 * signature with the seed of the file and ignores the JWT, so a placeholder stands in for it.
 */
function makeCredentials(dir: string): { creds: string; authorization: string } {
  const user = nkeys.createUser();
  const creds = path.join(dir, 'restore.creds');
  const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.placeholder';
  writeFileSync(creds, `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(user.getSeed())}\n------END USER NKEY SEED------\n`);
  return { creds, authorization: `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }` };
}

/** A snapshot of a plain node's gateway: stream `orders`, 5 events, replicas 1. */
async function takeSnapshot(t: { teardown(fn: () => void): void }, dir: string): Promise<string> {
  const source = await startNatsNode(t, dir);
  const store = await JetStreamStore.open({ servers: [source.url], replicas: 1 });
  const bus = new EventBus(store, { snapshotsRoot: path.join(dir, 'snapshots') });
  await bus.createStream('orders');
  for (let i = 0; i < 5; i++) await bus.writeEvent('orders', Buffer.from(JSON.stringify({ i })));
  const snapshot = await bus.snapshot('s');
  await store.close();
  await source.kill();
  return snapshot.absolutePath;
}

function restore(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [MAIN, 'restore', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The messages of each stream in the server, by name. */
async function streamsOf(options: ConnectionOptions): Promise<Record<string, number>> {
  const nc = await connect(options);
  try {
    const found: Record<string, number> = {};
    for await (const info of (await nc.jetstreamManager()).streams.list()) found[info.config.name] = info.state.messages;
    return found;
  } finally {
    await nc.close();
  }
}

t.test('a cluster requiring credentials: restore works with --nats-creds (or backend.creds), fails in one line without', { skip }, async (t) => {
  const dir = tempDir(t, 'eventbus-restore-nats-');
  const snapshot = await takeSnapshot(t, dir);
  const { creds, authorization } = makeCredentials(dir);
  const node = await startNatsNode(t, dir, undefined, authorization);
  const asUser = { servers: [node.url], authenticator: credsAuthenticator(readFileSync(creds)) };

  const without = restore([snapshot, '--nats-servers', node.url]);
  t.equal(without.status, 1, `without credentials: status 1 (${without.stderr.trim()})`);
  t.match(without.stderr, /^eventbus: cannot connect to NATS at [^\n]*[Aa]uthorization[^\n]*\n$/, 'one line: the server refused');

  const missing = restore([snapshot, '--nats-servers', node.url, '--nats-creds', path.join(dir, 'nope.creds')]);
  t.equal(missing.status, 1, 'a credentials file that cannot be read: status 1');
  t.equal(missing.stderr, `eventbus: cannot read the NATS credentials file ${path.join(dir, 'nope.creds')} (--nats-creds, backend.creds in the config file): ENOENT\n`, "serve's line");
  t.same(await streamsOf(asUser), {}, 'nothing restored');

  // Before the fix restore had no --nats-creds: a usage error (64).
  const given = restore([snapshot, '--nats-servers', node.url, '--nats-creds', creds, '--json']);
  t.equal(given.status, 0, `with --nats-creds: restored (${given.stderr.trim()})`);
  t.match(JSON.parse(given.stdout), { streams: 1, events: 5 });
  const restored = await streamsOf(asUser);
  t.ok(Object.entries(restored).some(([name, messages]) => name.startsWith('EB_') && messages === 5), `the stream's 5 events are there (${JSON.stringify(restored)})`);

  // The config file's backend section, as serve reads it: servers and creds.
  const other = await startNatsNode(t, dir, undefined, authorization);
  const config = path.join(dir, 'eventbus.yaml');
  writeFileSync(config, `backend:\n  type: jetstream\n  servers: ${other.url}\n  creds: ${creds}\n`);
  const fromConfig = restore([snapshot, '--config', config]);
  t.equal(fromConfig.status, 0, `with backend.servers and backend.creds from --config: restored (${fromConfig.stderr.trim()})`);
  t.ok(Object.values(await streamsOf({ ...asUser, servers: [other.url] })).includes(5), 'and the events are there');
});

t.test('a cluster requiring TLS: restore works with --nats-tls-ca (or backend.tls_ca), fails without; a bad CA is refused before anything is done', { skip }, async (t) => {
  const dir = tempDir(t, 'eventbus-restore-nats-');
  const snapshot = await takeSnapshot(t, dir);
  const certificate = makeCertificate(dir);
  const node = await startNatsNode(t, dir, certificate);
  const url = `tls://${node.url.replace('127.0.0.1', 'localhost')}`;
  const overTls = { servers: [url], tls: { caFile: certificate.cert } };

  const without = restore([snapshot, '--nats-servers', url]);
  t.equal(without.status, 1, `without the CA: status 1 (${without.stderr.trim()})`);
  t.match(without.stderr, /^eventbus: cannot connect to NATS at [^\n]*\n$/, 'one line');

  const notPem = path.join(dir, 'not-a-ca.pem');
  writeFileSync(notPem, 'not a certificate\n');
  const bad = restore([snapshot, '--nats-servers', url, '--nats-tls-ca', notPem]);
  t.equal(bad.status, 1, 'a CA that is no PEM certificate: status 1');
  t.match(bad.stderr, new RegExp(`^eventbus: the NATS TLS CA ${notPem.replace(/[.]/g, '\\.')} \\(--nats-tls-ca, backend\\.tls_ca in the config file\\) is no PEM certificate: [^\\n]*\\n$`), "serve's line");
  t.same(await streamsOf(overTls), {}, 'nothing restored');

  const given = restore([snapshot, '--nats-servers', url, '--nats-tls-ca', certificate.cert]);
  t.equal(given.status, 0, `with --nats-tls-ca: restored (${given.stderr.trim()})`);
  t.ok(Object.values(await streamsOf(overTls)).includes(5), 'the events are there');

  const other = await startNatsNode(t, dir, certificate);
  const config = path.join(dir, 'eventbus.yaml');
  writeFileSync(config, `backend:\n  servers: tls://${other.url.replace('127.0.0.1', 'localhost')}\n  tls_ca: ${certificate.cert}\n`);
  const fromConfig = restore([snapshot, '--config', config]);
  t.equal(fromConfig.status, 0, `with backend.tls_ca from --config: restored (${fromConfig.stderr.trim()})`);
});

t.test('tls:// requires TLS: a restore to a server without it is refused, nothing sent in plain text', { skip }, async (t) => {
  const dir = tempDir(t, 'eventbus-restore-nats-');
  const snapshot = await takeSnapshot(t, dir);
  const plain = await startNatsNode(t, dir);
  // Before the fix the restore connected in plain text and restored (status 0).
  const run = restore([snapshot, '--nats-servers', `tls://${plain.url}`]);
  t.equal(run.status, 1, `exit status 1 (${run.stderr.trim()})`);
  t.match(run.stderr, new RegExp(`^eventbus: cannot connect to NATS at tls://${plain.url.replace(/\./g, '\\.')}: the server does not offer TLS[^\\n]*\\n$`), 'one line saying TLS is required and not offered');
  t.same(await streamsOf({ servers: [plain.url] }), {}, 'nothing restored');
});

t.test('a token from EVENTBUS_NATS_TOKEN, as serve takes it; --nats-token as an argument is refused', { skip }, async (t) => {
  const dir = tempDir(t, 'eventbus-restore-nats-');
  const snapshot = await takeSnapshot(t, dir);
  const node = await startNatsNode(t, dir, undefined, 'authorization { token: "s3cret-token" }');
  const argument = restore([snapshot, '--nats-servers', node.url, '--nats-token', 's3cret-token']);
  t.equal(argument.status, 64, 'a secret as an argument: usage error');
  t.match(argument.stderr, /^eventbus: --nats-token is not taken as an argument [^\n]*EVENTBUS_NATS_TOKEN[^\n]*\n$/, "serve's line");
  const run = restore([snapshot, '--nats-servers', node.url], { EVENTBUS_NATS_TOKEN: 's3cret-token' });
  t.equal(run.status, 0, `with EVENTBUS_NATS_TOKEN: restored (${run.stderr.trim()})`);
  t.ok(Object.values(await streamsOf({ servers: [node.url], token: 's3cret-token' })).includes(5), 'the events are there');
});
