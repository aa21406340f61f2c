/**
 * The fault-control file of a real server (src/storage/testing/fault-io-module.ts, through the
 * EVENTBUS_TEST_IO_MODULE hook) refuses a fault list it cannot honour, rather than accept it
 * silently or die of it: setFaults checks the list before writing it (INVALID_FIELD naming
 * `faults[i].…`: an unknown key, an `nth` below 1, a negative `partialBytes`, a `path` that is no
 * regular expression), and a list written by hand that the server cannot apply is refused whole
 * by the server, which keeps running with the faults it had and says why in its ack file. (Before,
 * the list went to FaultyIO.inject inside the server's polling timer, whose refusal ended the
 * server process; setFaults then waited out its timeout.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EventBusClient } from 'eventbus/client';
import { ErrorCodes } from 'eventbus/storage';
import { faultState, setFaults, type FaultJson } from 'eventbus/storage/testing';
import { refusedWith } from '../helpers/engine-refusal.js';
import { startFaultServer } from '../helpers/fault-server.js';
import { tempDir } from '../helpers/temp-dir.js';

const MODULE = fileURLToPath(import.meta.resolve('eventbus/storage/testing/fault-io-module'));
const F = ErrorCodes.INVALID_FIELD;

t.test('a fault list the layer cannot honour is refused by setFaults and by the server, which keeps running', async (t) => {
  const workDir = tempDir(t, 'fault-control');
  const dataDir = path.join(workDir, 'data');
  const control = path.join(workDir, 'faults.json');
  const server = await startFaultServer({ dataDir, workDir, env: { EVENTBUS_TEST_IO_MODULE: MODULE, EVENTBUS_FAULT_CONTROL: control } });
  t.teardown(() => server.kill());
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close().catch(() => {}));
  await client.createStream('s');

  const bad: [string, unknown, string][] = [
    ['a negative nth', [{ op: 'datasync', errno: 'EIO', nth: -1 }], 'faults[0].nth'],
    ['nth 0', [{ op: 'datasync', errno: 'EIO', nth: 0 }], 'faults[0].nth'],
    ['a fractional nth', [{ op: 'datasync', errno: 'EIO', nth: 1.5 }], 'faults[0].nth'],
    ['a negative partialBytes', [{ op: 'writev', errno: 'ENOSPC', partialBytes: -3 }], 'faults[0].partialBytes'],
    ['a misspelt persistent', [{ op: 'datasync', errno: 'EIO' }, { op: 'datasync', errno: 'EIO', persistant: true }], 'faults[1].persistant'],
    ['an unknown operation', [{ op: 'fsync', errno: 'EIO' }], 'faults[0].op'],
    ['an errno it cannot give', [{ op: 'datasync', errno: 'ENOENT' }], 'faults[0].errno'],
    ['a path that is no regular expression', [{ op: 'datasync', errno: 'EIO', path: '(' }], 'faults[0].path'],
    ['not a list', { op: 'datasync', errno: 'EIO' }, 'faults'],
  ];
  for (const [label, faults, field] of bad) await refusedWith(t, () => setFaults(control, faults as FaultJson[], 2000), F, field, `setFaults with ${label}`);
  t.notOk(fs.existsSync(control), 'setFaults wrote nothing for a refused list');
  await refusedWith(t, () => setFaults(control, [], -1), F, 'timeoutMs', 'setFaults with a negative timeout');

  // A list the server is given by hand (not through setFaults): refused whole, the server lives on.
  await setFaults(control, [{ op: 'datasync', errno: 'EIO', path: '\\.nothing-matches$' }]);
  fs.writeFileSync(control, JSON.stringify({ generation: 50, faults: [{ op: 'datasync', errno: 'EIO', nth: -2 }] }));
  const started = Date.now();
  while (faultState(control).refused?.generation !== 50 && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 10));
  const state = faultState(control);
  t.match(state.refused, { generation: 50, code: F, field: 'faults[0].nth' }, 'the ack says which list was refused and why');
  t.match(state.refused?.reason, /faults\[0\]\.nth must be a whole number from 1 to 9007199254740991, got -2/);
  t.equal(state.generation, 1, 'the faults in force stayed');
  t.equal(server.child.exitCode, null, 'the server is still running');
  const ack = await client.writeEventJson('s', '{"after":"refusal"}');
  t.equal(ack.offset, 0, 'and still takes writes');

  // A good list afterwards is applied.
  await setFaults(control, [{ op: 'datasync', errno: 'EIO', path: '\\.log$' }]);
  await t.rejects(client.writeEventJson('s', '{"n":2}'), { code: ErrorCodes.IO_ERROR }, 'the good list after it is in force');
});
