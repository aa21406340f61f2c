/**
 * `--host '[::1]'`, the bracketed form the command prints an IPv6 address in, is the address
 * ::1 for the client commands and for serve (it failed with getaddrinfo ENOTFOUND [::1]).
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { endpointOf } from '../../src/cli/connection-options.js';
import { resolveSettings } from '../../src/cli/settings.js';
import { MAIN, startServerProcess } from '../helpers/server-process.js';

const { NODE_OPTIONS: _tapHooks, ...BASE_ENV } = process.env;

t.test('brackets around an IPv6 host are taken off; other hosts are kept as given', async (t) => {
  t.equal(endpointOf({ host: '[::1]' }, {}).host, '::1');
  t.equal(endpointOf({ host: '[fe80::1]' }, {}).host, 'fe80::1');
  t.equal(endpointOf({ host: '::1' }, {}).host, '::1');
  t.equal(endpointOf({ host: 'bus.internal' }, {}).host, 'bus.internal');
  t.equal(endpointOf({ host: '[bus.internal]' }, {}).host, '[bus.internal]', 'only an IPv6 address loses its brackets');
  t.equal(resolveSettings({ host: '[::1]' }, {}).host, '::1', 'serve --host');
  t.equal(resolveSettings({ host: '127.0.0.1', httpPort: 0, httpHost: '[::1]' }, {}).http?.host, '::1', 'serve --http-host');
});

t.test('a client command reaches a server at --host [::1]', async (t) => {
  let server;
  try {
    server = await startServerProcess({ args: ['--host', '::1'] });
  } catch (error) {
    t.comment(`no IPv6 loopback here: ${(error as Error).message}`);
    return;
  }
  t.teardown(() => void server.stop('SIGKILL'));
  const result = spawnSync(process.execPath, [MAIN, 'create', 'bracketed', '--host', '[::1]', '--port', String(server.port), '--json'], { encoding: 'utf8', env: BASE_ENV, timeout: 30_000 });
  t.equal(result.status, 0, result.stderr);
  t.match(JSON.parse(result.stdout), { name: 'bracketed', created: true });
});
