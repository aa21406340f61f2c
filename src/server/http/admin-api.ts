/**
 * The admin page's JSON API (under /api/): what the page shows, read from the bus and engine at
 * the moment it asks, and the three actions it offers (create a stream, delete a stream, take a
 * snapshot), which go through the same bus calls as create_stream, delete_stream and snapshot_db
 * and need the same credentials (http-auth.ts). A body member an action does not take is refused
 * (INVALID_FIELD naming it), never ignored: a `retention` or `output` misspelt would otherwise be
 * a change other than the one asked for. Errors are `{"error":{"code","reason"}}` with the code of
 * the one error table and an HTTP status that says the kind (http-status.ts).
 */
import type { EventBus } from '../../bus/bus.js';
import { ErrorCodes, EventBusError, isEventBusError } from '../../errors.js';
import { parseOptionalRetention } from '../../protocol/parse-retention.js';
import { snapshotBody, streamBody } from '../../protocol/response.js';
import type { StreamRetention } from '../../storage/index.js';
import type { ServerStats } from '../connection.js';
import type { RequestCounts } from '../request-counts.js';
import type { RecentSnapshots } from './recent-snapshots.js';
import type { RateHistory } from './rate-history.js';
import { readStoreFigures, type StreamFigures } from './store-figures.js';

/** Streams listed in one overview (the rest are counted, not listed). */
export const MAX_LISTED_STREAMS = 500;
/** Damaged regions listed in one overview. */
export const MAX_LISTED_DAMAGE = 100;

export interface AdminContext {
  bus: EventBus;
  stats: ServerStats;
  counts: RequestCounts;
  snapshots: RecentSnapshots;
  history: RateHistory;
  authRequired: boolean;
  connectionCount(): number;
  ready(): boolean;
}

/** A JSON answer: status and body text. */
export interface JsonAnswer {
  status: number;
  body: string;
}

/** An action's request body: parsed, and its bytes (integers are checked on their literal, as on the TCP side). */
export interface JsonBody {
  value: unknown;
  bytes: Buffer;
}

function json(status: number, value: unknown): JsonAnswer {
  return { status, body: JSON.stringify(value) };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function streamJson(stream: StreamFigures, writeRate: number) {
  return {
    name: stream.name,
    created_at: iso(stream.createdMs),
    events: stream.events,
    appended: stream.appended,
    first_offset: stream.firstOffset,
    bytes: stream.bytes,
    segments: stream.segments,
    write_rate: Math.round(writeRate * 10) / 10,
    damaged_regions: stream.damage.length,
    consumers: stream.consumers.map((c) => ({ name: c.name, cursor: c.cursor, lag: c.lag, pending: c.pending, retry: c.retry, dead_lettered: c.deadLettered })),
  };
}

/** GET /api/overview[?since=MS]: everything the page shows; chart samples after `since` only. */
export function overview(ctx: AdminContext, sinceMs: number): JsonAnswer {
  const figures = readStoreFigures(ctx.bus.engine);
  const rates = ctx.history.streamWriteRates(new Map(figures.streams.map((s) => [s.name, { id: s.id, nextOffset: s.appended }])));
  const listed = [...figures.streams].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).slice(0, MAX_LISTED_STREAMS);
  const damage = figures.streams.flatMap((s) => s.damage.map((d) => ({ stream: s.name, file: d.file, position: d.position, first_offset: d.firstOffset, last_offset: d.lastOffset, reason: d.reason })));
  return json(200, {
    time: iso(Date.now()),
    uptime_seconds: Math.round(process.uptime()),
    auth_required: ctx.authRequired,
    ready: ctx.ready(),
    connections: ctx.connectionCount(),
    requests: ctx.stats.requests,
    totals: {
      // Every stream in the store, as /readyz counts them: those that failed to open too (listed in `broken`).
      streams: figures.streams.length + figures.broken.length,
      broken_streams: figures.broken.length,
      events: figures.streams.reduce((sum, s) => sum + s.events, 0),
      bytes: figures.streams.reduce((sum, s) => sum + s.bytes, 0),
      consumers: figures.streams.reduce((sum, s) => sum + s.consumers.length, 0),
      writes_ok: ctx.counts.writesOk,
      delivered: ctx.counts.eventsDelivered,
    },
    streams: listed.map((s) => streamJson(s, rates.get(s.name) ?? 0)),
    broken: figures.broken,
    damage: damage.slice(0, MAX_LISTED_DAMAGE),
    damage_total: damage.length,
    snapshots: ctx.snapshots.list().map((r) => ({ started_at: iso(r.startedMs), duration_ms: Math.round(r.durationMs), code: r.code, path: r.path ?? null, streams: r.streams, events: r.events, bytes: r.bytes, reason: r.reason ?? null })),
    series: ctx.history.since(sinceMs).map((s) => ({ time_ms: s.timeMs, writes_per_second: s.writesPerSecond, consumed_per_second: s.consumedPerSecond, append_p99_ms: s.appendP99Ms })),
  });
}

/**
 * POST /api/streams `{"name": "…", "retention"?: {…}}`: creates a stream (201, the create_stream
 * body); `retention` as create_stream takes it (parse-retention.ts), with the same checks.
 */
export async function createStream(ctx: AdminContext, body: JsonBody): Promise<JsonAnswer> {
  const object = members(body.value, ['name', 'retention'], 'POST /api/streams');
  const name = field(object, 'name');
  const retention = retentionOf(object, body.bytes);
  const stream = await ctx.bus.createStream(name, retention);
  return { status: 201, body: streamBody(stream) };
}

/**
 * The optional `retention` of a create, as create_stream takes it. parseRetention reads integers
 * from a request line's `body` (the HTTP body is that body) and refuses with the wire's text
 * ("invalid json provided") and the field in `context`: said in the reason here, which is all the
 * HTTP answer carries.
 */
function retentionOf(object: Record<string, unknown>, bytes: Buffer): StreamRetention | undefined {
  try {
    return parseOptionalRetention(object, Buffer.concat([Buffer.from('{"body":'), bytes, Buffer.from('}')]));
  } catch (error) {
    const context = isEventBusError(error, ErrorCodes.INVALID_FIELD) && isObject(error.context) ? error.context : undefined;
    if (context === undefined || typeof context.field !== 'string') throw error;
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `"${context.field}" must be ${String(context.expected)}`, { context: { field: context.field } });
  }
}

/** DELETE /api/streams/<name>: deletes a stream and its events (200 `{"deleted": name}`); a body, if any, is `{}`. */
export async function deleteStream(ctx: AdminContext, body: JsonBody, name: string): Promise<JsonAnswer> {
  members(body.value, [], 'DELETE /api/streams');
  await ctx.bus.deleteStream(name);
  return json(200, { deleted: name });
}

/** POST /api/snapshots `{"output": "…"}` (default: the snapshots root itself): 201, the snapshot_db body. */
export async function takeSnapshot(ctx: AdminContext, body: JsonBody): Promise<JsonAnswer> {
  const object = members(body.value, ['output'], 'POST /api/snapshots');
  const output = object.output !== undefined ? field(object, 'output') : '.';
  const view = await ctx.bus.snapshot(output === '' ? '.' : output);
  return { status: 201, body: snapshotBody(view) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `body` as an object with no member but `allowed`. Throws INVALID_JSON (not an object) or INVALID_FIELD naming the first other member. */
function members(body: unknown, allowed: readonly string[], action: string): Record<string, unknown> {
  if (!isObject(body)) throw new EventBusError(ErrorCodes.INVALID_JSON, 'the request body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      const takes = allowed.length === 0 ? 'takes no members' : `takes only ${allowed.map((k) => `"${k}"`).join(' and ')}`;
      throw new EventBusError(ErrorCodes.INVALID_FIELD, `unknown member ${JSON.stringify(key.slice(0, 100))} in the request body: ${action} ${takes}`, { context: { field: key.slice(0, 100) } });
    }
  }
  return body;
}

function field(body: unknown, name: string): string {
  if (!isObject(body)) throw new EventBusError(ErrorCodes.INVALID_JSON, 'the request body must be a JSON object');
  const value = body[name];
  if (value === undefined) throw new EventBusError(ErrorCodes.MISSING_FIELDS, `the request body needs "${name}"`, { context: { field: name } });
  if (typeof value !== 'string') throw new EventBusError(ErrorCodes.INVALID_FIELD, `"${name}" must be a string`, { context: { field: name } });
  return value;
}
