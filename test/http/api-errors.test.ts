/**
 * The HTTP API's error statuses are the documented ones: docs/operations.md ("Errors") lists
 * every status with the codes returned under it, each code the API can return is there under the
 * status http-status.ts gives it, and a snapshot that fails (SNAPSHOT_FAILED) answers that.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { ErrorCodes } from '../../src/errors.js';
import { httpStatusOf } from '../../src/server/http/http-status.js';
import { httpServerFor, rawRequest } from './http-helpers.js';

const ROOT = new URL('../../../', import.meta.url);

/** Each code the admin API can answer with: its body and fields, create, delete, snapshot, overview, a gateway, a bug. */
const API_CODES = [
  'INVALID_UTF8', 'INVALID_JSON', 'MISSING_FIELDS', 'INVALID_FIELD', 'INVALID_STREAM_NAME', 'INVALID_PATH', 'UNAUTHORIZED', 'STREAM_NOT_FOUND',
  'STREAM_EXISTS', 'TOO_MANY_STREAMS', 'DISK_FULL', 'IO_ERROR', 'STREAM_FAILED', 'SHUTTING_DOWN', 'CLOSED', 'CORRUPT_DATA',
  'SNAPSHOT_FAILED', 'NOT_SUPPORTED', 'INTERNAL',
] as const;

/** The "Errors" paragraph of docs/operations.md, as status → the codes named under it. */
function documentedStatuses(): Map<number, Set<string>> {
  const text = readFileSync(new URL('docs/operations.md', ROOT), 'utf8');
  const start = text.indexOf('**Errors** are JSON');
  if (start < 0) throw new Error('no "Errors" paragraph in docs/operations.md');
  const paragraph = text.slice(start, text.indexOf('\n\n', start));
  const byStatus = new Map<number, Set<string>>();
  const parts = paragraph.split(/`(\d{3})`/);
  for (let i = 1; i < parts.length; i += 2) {
    const codes = [...parts[i + 1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!).filter((c) => Object.hasOwn(ErrorCodes, c));
    const status = Number(parts[i]);
    byStatus.set(status, new Set([...(byStatus.get(status) ?? []), ...codes]));
  }
  return byStatus;
}

t.test('every code the API returns is documented under the status it is answered with', async (t) => {
  const documented = documentedStatuses();
  t.ok(documented.size >= 10, `the paragraph lists the statuses (${[...documented.keys()].join(', ')})`);
  for (const [status, codes] of documented) {
    for (const code of codes) t.equal(httpStatusOf(code), status, `${code} is documented as ${status}: it is answered with ${httpStatusOf(code)}`);
  }
  for (const code of API_CODES) {
    const status = httpStatusOf(code);
    t.ok(documented.get(status)?.has(code), `${code} (answered ${status}) is documented under ${status}`);
  }
});

t.test('a snapshot that cannot be made is 500 SNAPSHOT_FAILED, as documented', async (t) => {
  const server = await httpServerFor(t);
  // The snapshots root replaced by a file after the server started (at start it is refused).
  const root = server.server.bus.snapshotsRoot;
  rmSync(root, { recursive: true, force: true });
  writeFileSync(root, 'x\n');
  const answer = await rawRequest(server.httpPort, 'POST', '/api/snapshots', { headers: { 'Content-Type': 'application/json' }, body: '{"output":"nightly"}' });
  t.match(answer.json, { error: { code: 'SNAPSHOT_FAILED' } });
  t.equal(answer.status, 500);
  t.ok(documentedStatuses().get(answer.status)?.has('SNAPSHOT_FAILED'), 'the docs say so');
});
