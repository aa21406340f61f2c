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
import { resolveSettings } from '../../src/cli/settings.js';
import { resolveBusOptions } from '../../src/bus/bus.js';
import { resolveHttpOptions } from '../../src/server/http/http-options.js';
import { resolveLimits } from '../../src/server/limits.js';
import { resolveOptions } from '../../src/storage/engine-options.js';
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

t.test('storage.key_cache_bytes and the other keys feeding an engine or jetstream option are bounded at read, naming the key as written', async (t) => {
  const refusals: [string, string][] = [
    ['storage:\n  key_cache_bytes: 4096\n', "'storage.key_cache_bytes' must be a whole number of at least 65536, got 4096"],
    ['storage:\n  fsync_interval_ms: 2147483648\n', "'storage.fsync_interval_ms' must be a whole number from 1 to 2147483647, got 2147483648"],
    ['storage:\n  retention_interval_ms: 3000000000\n', "'storage.retention_interval_ms' must be a whole number from 0 to 2147483647, got 3000000000"],
    ['consumers:\n  max_wait_ms: 3000000000\n', "'consumers.max_wait_ms' must be a whole number from 0 to 2147483647, got 3000000000"],
    ['storage:\n  fsync: sometimes\n', "'storage.fsync' must be one of always, interval, never, got 'sometimes'"],
    ['logger:\n  level: loud\n', "'logger.level' must be one of fatal, error, warn, info, debug, trace, silent (any case; the original's dpanic and panic are fatal), got 'loud'"],
    ['backend:\n  replicas: 2\n', "'backend.replicas' must be 1, 3 or 5, got 2"],
    ['backend:\n  duplicate_window_ms: 50\n', "'backend.duplicate_window_ms' must be a whole number of at least 100, got 50"],
    ['backend:\n  request_timeout_ms: 0\n', "'backend.request_timeout_ms' must be a whole number of at least 1, got 0"],
  ];
  for (const [text, message] of refusals) {
    t.throws(() => parseConfig(text, 'c.yaml'), { code: 'INVALID_FIELD', message: `config file c.yaml: ${message}` }, text);
  }
  t.doesNotThrow(() => parseConfig('storage:\n  key_cache_bytes: 65536\n', 'c.yaml'), 'the minimum itself is taken');
});

t.test('a duplicate window of fewer ids than a batch is refused at start, naming both keys (a full batch retried could never be recognised)', async (t) => {
  const dir = tempDir(t);
  const config = path.join(dir, 'window.yaml');
  writeFileSync(config, 'storage:\n  max_batch_events: 8\n  duplicate_window_events: 5\n');
  const run = spawnSync(process.execPath, [MAIN, 'serve', '--config', config, '--data', path.join(dir, 'data'), '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
  t.equal(run.status, 1, 'serve stops with status 1');
  t.match(run.stderr, /config file .*window\.yaml: 'storage\.duplicate_window_events' \(5\) must be 0 \(no window\) or at least 'storage\.max_batch_events' \(8\): a smaller window cannot recognise a full batch sent again/);
  t.notOk(existsSync(path.join(dir, 'data')), 'nothing was opened');
  // The default batch (1,000) counts when max_batch_events is left out.
  t.throws(() => parseConfig('storage:\n  duplicate_window_events: 999\n', 'c.yaml'), { code: 'INVALID_FIELD', message: /'storage.duplicate_window_events' \(999\) must be 0 \(no window\) or at least 'storage.max_batch_events' \(1000\)/ });
  t.doesNotThrow(() => parseConfig('storage:\n  duplicate_window_events: 1000\n', 'c.yaml'), 'a window of one batch');
  t.doesNotThrow(() => parseConfig('storage:\n  max_batch_events: 8\n  duplicate_window_events: 0\n', 'c.yaml'), '0: no window');
  // Left out, the window is raised to a batch rather than refused: max_batch_events alone keeps its documented range.
  t.equal(resolveOptions({ dataDir: dir, maxBatchEvents: 200_000 }).duplicateWindowEvents, 200_000);
  t.equal(resolveOptions({ dataDir: dir }).duplicateWindowEvents, 100_000);
  t.throws(() => resolveOptions({ dataDir: dir, maxBatchEvents: 8, duplicateWindowEvents: 5 }), {
    code: 'INVALID_FIELD', context: { field: 'duplicateWindowEvents' }, message: /0 \(no window\) or at least maxBatchEvents \(8\), got 5/,
  }, 'an embedder is refused the same');
});

t.test('eventbus serve with key_cache_bytes: 4096 stops naming storage.key_cache_bytes, not the engine option', async (t) => {
  const dir = tempDir(t);
  const config = path.join(dir, 'keys.yaml');
  writeFileSync(config, 'storage:\n  key_cache_bytes: 4096\n');
  const run = spawnSync(process.execPath, [MAIN, 'serve', '--config', config, '--data', path.join(dir, 'data'), '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
  t.equal(run.status, 1);
  t.match(run.stderr, /config file .*keys\.yaml: 'storage\.key_cache_bytes' must be a whole number of at least 65536, got 4096/);
  t.notMatch(run.stderr, /keyIndex|cacheBytes|engine option/);
});

t.test('sweep: a whole number any config key accepts is accepted by the layer it feeds (so every bound error names the key)', async (t) => {
  const dir = tempDir(t);
  const integerKeys: Record<string, string[]> = {
    server: ['max_line_bytes', 'max_connections', 'max_in_flight_requests', 'max_in_flight_bytes', 'max_output_bytes', 'output_stall_timeout_ms',
      'idle_timeout_ms', 'partial_line_timeout_ms', 'close_linger_ms', 'max_mark_event_ids', 'shutdown_timeout_ms', 'max_subscription_buffer_bytes',
      'default_page_events', 'max_page_events', 'max_page_bytes'],
    storage: ['fsync_interval_ms', 'segment_size_bytes', 'max_event_bytes', 'max_batch_events', 'max_batch_bytes', 'duplicate_window_ms',
      'duplicate_window_events', 'key_cache_bytes', 'retention_interval_ms', 'max_open_segments', 'max_streams'],
    'storage.retention': ['max_age_ms', 'max_bytes', 'max_events'],
    consumers: ['ack_wait_ms', 'max_deliveries', 'max_pending', 'default_batch_events', 'max_batch_events', 'max_batch_bytes', 'max_wait_ms', 'max_consumers_per_stream'],
    http: ['max_connections', 'max_header_bytes', 'headers_timeout_ms', 'request_timeout_ms', 'max_body_bytes', 'max_labelled_streams', 'max_labelled_consumers'],
    backend: ['replicas', 'request_timeout_ms', 'write_timeout_ms', 'start_timeout_ms', 'duplicate_window_ms'],
  };
  const probes = [0, 1, 2, 3, 5, 15, 16, 99, 100, 1023, 1024, 65535, 65536, 2 ** 30, 2 ** 30 + 1, 64 * 2 ** 20, 64 * 2 ** 20 + 1, 2 ** 31 - 1, 2 ** 31, Number.MAX_SAFE_INTEGER];
  let accepted = 0;
  let refused = 0;
  for (const [section, keys] of Object.entries(integerKeys)) {
    for (const key of keys) {
      for (const value of probes) {
        const yaml = section === 'storage.retention' ? `storage:\n  retention:\n    ${key}: ${value}\n`
          : section === 'http' ? `http:\n  port: 0\n  ${key}: ${value}\n`
            : section === 'backend' ? `backend:\n  type: jetstream\n  servers: a:1\n  ${key}: ${value}\n`
              : `${section}:\n  ${key}: ${value}\n`;
        try {
          parseConfig(yaml, 'c.yaml');
        } catch (error) {
          refused += 1;
          t.match((error as Error).message, `'${section}.${key}'`, `${section}.${key}: ${value} refused naming the key`);
          continue;
        }
        accepted += 1;
        const file = path.join(dir, 'c.yaml');
        writeFileSync(file, yaml);
        try {
          const settings = resolveSettings({ config: file, data: path.join(dir, 'data') }, {});
          resolveOptions(settings.engine);
          resolveLimits(settings.limits);
          resolveBusOptions(settings.bus);
          if (settings.http !== undefined) resolveHttpOptions(settings.http, settings.host);
        } catch (error) {
          t.fail(`${section}.${key}: ${value} passed the config file's checks but not its layer's: ${(error as Error).message}`);
        }
      }
    }
  }
  t.ok(accepted > 500 && refused > 50, `${accepted} accepted, ${refused} refused naming the key`);
});
