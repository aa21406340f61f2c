/**
 * The wire suites, parameterised by backend: the same test files that run on the engine run
 * again against a gateway on a real 3-node nats-server cluster, then against two gateways at once
 * behind a round-robin TCP balancer (each connection to the next gateway). Each suite runs as a
 * child process with EVENTBUS_TEST_BACKEND=jetstream (test/helpers/server-inprocess.ts reads it);
 * differences of the backend documented in docs/protocol.md are skipped there, each with its reason.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';

const SUITES = ['server/consumers.test.js', 'server/errors.test.js', 'client/client.test.js', 'client/list-streams.test.js', 'server/reads-and-settings.test.js', 'server/reads-by-key.test.js', 'server/subscribe.test.js'];
/** Behind the balancer: the suites where connections of one test meet different gateways. */
const TWO_GATEWAY_SUITES = ['server/consumers.test.js', 'client/client.test.js', 'server/reads-and-settings.test.js', 'server/reads-by-key.test.js', 'server/subscribe.test.js'];

function run(file: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(`../${file}`, import.meta.url))], { env: { ...process.env, ...env, TAP: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

t.test('wire suites on the jetstream backend', natsSkip(), async (t) => {
  const cluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  for (const gateways of [1, 2]) {
    for (const suite of gateways === 1 ? SUITES : TWO_GATEWAY_SUITES) {
      const { code, output } = await run(suite, { EVENTBUS_TEST_BACKEND: 'jetstream', EVENTBUS_TEST_NATS_SERVERS: cluster.servers.join(','), EVENTBUS_TEST_GATEWAYS: String(gateways) });
      const failures = output.split('\n').filter((line) => /^\s*not ok /.test(line));
      t.equal(code, 0, `${suite} with ${gateways} gateway(s) passes`, { failures, tail: code === 0 ? '' : output.slice(-4000) });
    }
  }
});
