/**
 * A seeded smoke fuzzer over a real socket: mutated and hostile request lines, pipelined. Every
 * non-blank line gets exactly one well-formed response (failures with `reason` and `code`), and
 * the server stays up. (The long hostile-input suite belongs to the reliability work.)
 */
import t from 'tap';
import { serverFor } from '../helpers/server-inprocess.js';
import { linesFor } from '../helpers/server-lines.js';

const SEEDS = [
  '{"operation":"health"}',
  '{"operation":"create_stream","body":{"stream_name":"f"}}',
  '{"operation":"write_event","body":{"stream_name":"f","event":{"a":[1,2,{"b":"c"}],"n":12345678901234567890}},"request_id":1}',
  '{"operation":"get_stream_info","body":{"stream_name":"f"}}',
  '{"operation":"get_stream_events","body":{"stream_name":"f","from_offset":0,"max_events":5}}',
  '{"operation":"process_events","body":{"stream_name":"f","max_events":2}}',
  '{"operation":"retry_events","body":{"stream_name":"f"}}',
  '{"operation":"mark_event","body":{"event_ids":["00000000-0001-8000-8000-000000000000"],"status":1}}',
  '{"operation":"delete_stream","body":{"stream_name":"nope"}}',
  '{"operation":"write_event","auth":{"client_id":"a","client_secret":"b"},"body":{"stream_name":"f","event":"\\u00e9"}}',
];

/** xorshift32: deterministic, so a failure can be replayed from its seed. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function mutate(line: string, next: () => number): Buffer {
  const bytes = [...Buffer.from(line)];
  const kind = Math.floor(next() * 8);
  const at = Math.floor(next() * bytes.length);
  if (kind === 0) bytes[at] = Math.floor(next() * 256);
  else if (kind === 1) bytes.splice(at, 0, Math.floor(next() * 256));
  else if (kind === 2) bytes.splice(at, Math.floor(next() * 10));
  else if (kind === 3) bytes.length = at;
  else if (kind === 4) bytes.splice(at, 0, ...bytes.slice(0, Math.floor(next() * bytes.length)));
  else if (kind === 5) return Buffer.from(line.replace(/"[a-z_]+":("[^"]*"|\d+)/, (m) => m.replace(/:.*/, [':null', ':[]', ':{}', ':-1', ':1e999', ':"x"', ':true', ':{"__proto__":{"x":1}}'][Math.floor(next() * 8)]!)));
  else if (kind === 6) return Buffer.from(`{"operation":"write_event","body":{"stream_name":"f","event":${'['.repeat(2000)}${']'.repeat(2000)}}}`);
  else return Buffer.from(`{"operation":"create_stream","body":{"stream_name":"${'\\ud800'.repeat(Math.floor(next() * 3))}${String(next())}"}}`);
  return Buffer.from(bytes.map((b) => (b === 0x0a ? 0x20 : b)));
}

function isBlank(line: Buffer): boolean {
  return line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d);
}

t.test('3,000 mutated lines: one well-formed response each, server up', async (t) => {
  const { port } = await serverFor(t, { engineOptions: { consumers: { maxWaitMs: 10 } } });
  const s = await linesFor(t, port);
  await s.request({ operation: 'create_stream', body: { stream_name: 'f' } });
  const next = random(20261127);
  let expected = 0;
  const lines: Buffer[] = [];
  for (let i = 0; i < 3000; i++) {
    const line = mutate(SEEDS[i % SEEDS.length]!, next);
    if (!isBlank(line)) expected += 1;
    lines.push(line, Buffer.from('\n'));
  }
  s.write(Buffer.concat(lines));
  let failures = 0;
  for (let i = 0; i < expected; i++) {
    const response = JSON.parse(await s.readLine(10_000)) as Record<string, unknown>;
    if (typeof response.operation !== 'string' || typeof response.status !== 'boolean') t.fail(`malformed response ${JSON.stringify(response)}`);
    if (response.status === false) {
      failures += 1;
      if (typeof response.reason !== 'string' || typeof response.code !== 'string') t.fail(`failure without reason or code: ${JSON.stringify(response)}`);
    } else if ('reason' in response) t.fail(`success with a reason: ${JSON.stringify(response)}`);
  }
  t.ok(failures > expected / 2, `most mutations fail (${failures} of ${expected})`);
  t.same(await s.request({ operation: 'health', request_id: 'end' }), { operation: 'health', status: true, request_id: 'end' }, 'nothing extra was written, and the connection still works');
  t.equal(({} as Record<string, unknown>).x, undefined, 'no prototype was polluted');
});
