/**
 * A real `eventbus serve` process whose store cannot close clean: under `--fsync interval` an
 * fsync of the timer fails (EIO injected through the EVENTBUS_TEST_IO_MODULE hook,
 * src/storage/testing/fault-io-module.ts) after writes were acknowledged, and no request is told.
 * On SIGTERM the server must not exit 0, which says everything acknowledged is on disk: it logs
 * why, prints one line on stderr and exits 1. The same run without the fault exits 0.
 * (The engine's side, every path to such a failure: test/storage/close-failures.test.ts.)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { faultState, setFaults } from 'eventbus/storage/testing';
import { startFaultServer } from '../helpers/fault-server.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const MODULE = fileURLToPath(import.meta.resolve('eventbus/storage/testing/fault-io-module'));

/** Writes to a server under `interval`, with the log's fsyncs failing if `fail`; returns how it stopped. */
async function run(t: TapTest, fail: boolean): Promise<{ code: number | string; output: string }> {
  const dataDir = tempDir(t, 'close-failure-data');
  const workDir = tempDir(t, 'close-failure-work');
  const control = path.join(workDir, 'faults.json');
  const server = await startFaultServer({ dataDir, workDir, fsync: 'interval', env: { EVENTBUS_TEST_IO_MODULE: MODULE, EVENTBUS_FAULT_CONTROL: control } });
  t.teardown(() => server.kill());
  const client = await EventBusClient.connect({ port: server.port });
  await client.createStream('a');
  for (let i = 0; i < 5; i++) await client.writeEvent('a', { n: i });
  if (fail) await setFaults(control, [{ op: 'datasync', errno: 'EIO', path: '[0-9]+\\.log$' }]);
  // Acknowledged at their write (the stream refuses writes once the timer's fsync has failed).
  const later = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => client.writeEvent('a', { n: 5 + i })));
  if (!fail) t.ok(later.every((outcome) => outcome.status === 'fulfilled'), 'every write acknowledged');
  if (fail) t.ok(await until(() => (faultState(control).fired[0] ?? 0) >= 1, 5_000), 'the timer\'s fsync failed');
  await client.close();
  const code = await server.stop();
  return { code, output: server.output() };
}

t.test('an fsync failure no request was told of: serve exits 1, saying why', async (t) => {
  const { code, output } = await run(t, true);
  t.equal(code, 1, 'exit status 1');
  t.match(output, /"msg":"shutdown: the store did not close cleanly: exiting with status 1"/, 'a log line says the store did not close cleanly');
  t.match(output, /"code":"IO_ERROR"/, 'with the failure\'s code');
  t.match(output, /^eventbus: the store closed after a failure no call was told of: I\/O error: fsync of \S+\.log failed \(EIO\) \(stream 'a'\)/m, 'and one line on stderr names the failed fsync');
  t.notMatch(output, /"msg":"stopped"/, 'it does not say it stopped cleanly');
});

t.test('the same run without the fault exits 0', async (t) => {
  const { code } = await run(t, false);
  t.equal(code, 0, 'exit status 0');
});
