/**
 * A configuration mistake is reported where the file is read, naming the file and the key, and
 * stops `eventbus serve` with status 1 before anything is opened: never as INTERNAL (a failed
 * assertion, which is a bug) after the store was opened.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/cli/config.js';
import { MAIN, tempDir } from '../helpers/server-process.js';

t.test('a page size of 0 is refused at read, naming file and key', async (t) => {
  t.throws(() => parseConfig('server:\n  max_page_events: 0\n', 'c.yaml'), { code: 'INVALID_FIELD', reason: "config file c.yaml: 'server.max_page_events' must be a whole number of at least 1, got 0" });
  t.throws(() => parseConfig('server:\n  max_page_bytes: 0\n', 'c.yaml'), { code: 'INVALID_FIELD', message: /'server.max_page_bytes' must be a whole number of at least 1/ });
  t.throws(() => parseConfig('server:\n  default_page_events: 0\n', 'c.yaml'), { code: 'INVALID_FIELD', message: /'server.default_page_events'/ });
});

t.test('a default page larger than the largest is refused, naming both keys', async (t) => {
  t.throws(() => parseConfig('server:\n  max_page_events: 500\n', 'c.yaml'), {
    code: 'INVALID_FIELD',
    message: /'server.default_page_events' \(1000\) must not be larger than 'server.max_page_events' \(500\)/,
  });
  t.doesNotThrow(() => parseConfig('server:\n  max_page_events: 500\n  default_page_events: 500\n', 'c.yaml'));
});

t.test('limits that 0 would disable, and ranges, are checked at read', async (t) => {
  for (const [text, key] of [
    ['server:\n  max_connections: 0\n', 'server.max_connections'],
    ['storage:\n  segment_size_bytes: 100\n', 'storage.segment_size_bytes'],
    ['storage:\n  max_event_bytes: 100000000\n', 'storage.max_event_bytes'],
    ['storage:\n  max_streams: 0\n', 'storage.max_streams'],
    ['consumers:\n  max_pending: 0\n', 'consumers.max_pending'],
  ] as const) {
    t.throws(() => parseConfig(text, 'c.yaml'), { code: 'INVALID_FIELD', message: new RegExp(`config file c.yaml: '${key.replace('.', '\\.')}' must be`) }, key);
  }
  t.doesNotThrow(() => parseConfig('server:\n  idle_timeout_ms: 0\nconsumers:\n  ack_wait_ms: 0\n  max_deliveries: 0\n', 'c.yaml'), 'keys where 0 means "never" or "unlimited" take 0');
});

t.test('eventbus serve with max_page_events: 0 stops with the config error and opens no store', async (t) => {
  const dir = tempDir(t);
  const config = path.join(dir, 'pages.yaml');
  writeFileSync(config, 'server:\n  max_page_events: 0\n');
  const data = path.join(dir, 'data');
  const run = spawnSync(process.execPath, [MAIN, 'serve', '--config', config, '--data', data, '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
  t.equal(run.status, 1, 'status 1, a usage problem');
  t.match(run.stderr, /config file .*pages\.yaml: 'server\.max_page_events' must be a whole number of at least 1, got 0/);
  t.notMatch(run.stderr + run.stdout, /INTERNAL|internal error/, 'never reported as a bug');
  t.notOk(existsSync(data), 'nothing was created');
});

t.test('a bounded whole number is described in the same words whether it is negative or below its bound', async (t) => {
  const message = (value: string) => {
    try {
      parseConfig(`storage:\n  max_batch_events: ${value}\n`, 'c.yaml');
    } catch (error) {
      return (error as Error).message;
    }
    return 'accepted';
  };
  t.equal(message('-1'), "config file c.yaml: 'storage.max_batch_events' must be a whole number of at least 1, got -1");
  t.equal(message('0'), "config file c.yaml: 'storage.max_batch_events' must be a whole number of at least 1, got 0");
  t.equal(message('1.5'), "config file c.yaml: 'storage.max_batch_events' must be a whole number of at least 1, got 1.5");
  t.throws(() => parseConfig('storage:\n  max_event_bytes: -1\n', 'c.yaml'), { message: "config file c.yaml: 'storage.max_event_bytes' must be a whole number from 1 to 67108864, got -1" });
  t.throws(() => parseConfig('storage:\n  max_batch_bytes: 0\n', 'c.yaml'), { message: "config file c.yaml: 'storage.max_batch_bytes' must be a whole number from 1 to 67108864, got 0" });
});
