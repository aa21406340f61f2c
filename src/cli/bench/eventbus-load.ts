/**
 * The load generator's eventbus side: closed-loop writes, prefills and drains against any
 * eventbus server (an Endpoint: host, port, TLS, credentials), driven with raw JSON lines (they
 * cost the generator less CPU than the TypeScript client; the harness's `client-vs-raw` workload
 * measures both). `eventbus bench` and the benchmark harness (bench/systems/eventbus.ts) both
 * drive eventbus through these functions.
 */
import { closedLoop } from './closed-loop.js';
import { drainLoop } from './drain-loop.js';
import type { Endpoint } from './endpoint.js';
import { lineFramer } from './line-framer.js';
import { payload } from './payload.js';
import { openLines, type PipelinedConnection } from './pipelined-connection.js';
import type { Progress } from './progress.js';
import type { RunResult } from './run-result.js';

/** How every successful write_event reply starts. */
export const WRITE_OK = '{"operation":"write_event","status":true';

/** The `,"auth":{…}` member of every request for `endpoint` ('' without credentials). */
function authMember(endpoint: Endpoint | undefined): string {
  const auth = endpoint?.auth;
  return auth === undefined ? '' : `,"auth":{"client_id":${JSON.stringify(auth.clientId)},"client_secret":${JSON.stringify(auth.clientSecret)}}`;
}

/** A write_event request line for `event` (JSON text) into `stream`. */
export function writeLine(stream: string, event: string, endpoint?: Endpoint): string {
  return `{"operation":"write_event","body":{"stream_name":${JSON.stringify(stream)},"event":${event}}${authMember(endpoint)}}\n`;
}

/** Any request line. */
export function requestLine(operation: string, body: Record<string, unknown>, endpoint?: Endpoint): string {
  return `{"operation":${JSON.stringify(operation)},"body":${JSON.stringify(body)}${authMember(endpoint)}}\n`;
}

export interface Reply {
  operation: string;
  status: boolean;
  body?: { events?: { id: string; body: { t?: number } }[] };
  reason?: string;
  code?: string;
}

/** A failure reply, as an error that keeps the server's code. */
export class ReplyError extends Error {
  constructor(readonly operation: string, readonly code: string | undefined, readonly reason: string) {
    super(`${operation} failed: ${code === undefined ? '' : `${code}: `}${reason}`);
  }
}

/** The reply to `operation`, parsed; throws ReplyError for a failure. */
export function parseReply(line: string, operation: string): Reply {
  const reply = JSON.parse(line) as Reply;
  if (reply.status !== true || reply.operation !== operation) throw new ReplyError(operation, reply.code, reply.reason ?? line.slice(0, 300));
  return reply;
}

/** One request on a fresh connection (setup steps, not timed); `allow` is a failure code that counts as done. */
export async function call(endpoint: Endpoint, operation: string, body: Record<string, unknown>, allow?: string): Promise<void> {
  const [connection] = await openLines(endpoint);
  try {
    const line = await connection!.send(requestLine(operation, body, endpoint));
    const reply = JSON.parse(line) as Reply;
    if (reply.status !== true && reply.code !== allow) throw new ReplyError(operation, reply.code, reply.reason ?? line);
  } finally {
    connection!.close();
  }
}

export interface WriteLoad {
  stream: string;
  connections: number;
  depth: number;
  sizeBytes: number;
  /** For this long, or... */
  durationMs?: number;
  /** ...this many events in all (whichever comes first). */
  events?: number;
  progress?: Progress;
}

/** Closed-loop writes of `sizeBytes` events into an existing stream; latency per write. */
export function writeLoad(endpoint: Endpoint, load: WriteLoad): Promise<RunResult> {
  return closedLoop({
    endpoint,
    connections: load.connections,
    depth: load.depth,
    request: Buffer.from(writeLine(load.stream, payload(load.sizeBytes), endpoint)),
    framer: () => lineFramer(WRITE_OK),
    ...(load.durationMs === undefined ? {} : { durationMs: load.durationMs }),
    ...(load.events === undefined ? {} : { totalOps: load.events }),
    ...(load.progress === undefined ? {} : { progress: load.progress }),
  });
}

/** Writes exactly `events` events of `sizeBytes` into an existing stream, 16 connections × 32 deep (not a measurement). */
export async function prefill(endpoint: Endpoint, stream: string, events: number, sizeBytes: number, progress?: Progress): Promise<void> {
  const result = await writeLoad(endpoint, { stream, connections: 16, depth: 32, sizeBytes, events, ...(progress === undefined ? {} : { progress }) });
  if (result.errors > 0 || result.ops !== events) throw new Error(`prefill wrote ${result.ops} of ${events} events with ${result.errors} errors`);
}

export interface DrainLoad {
  stream: string;
  /** A consumer of its own, new: it sees every event. */
  consumer: string;
  workers: number;
  batch: number;
  /** Events in the stream: the run ends when every one is acknowledged. */
  events: number;
  progress: Progress;
  /** True once the drain is to end early (Ctrl-C): no worker fetches again. */
  stopped?: () => boolean;
}

/**
 * Drains and acknowledges every event: each worker loops process_events (a batch) → mark_event of
 * those ids, with the next process_events pipelined behind the mark. Latency is per batch.
 */
export async function drainLoad(endpoint: Endpoint, load: DrainLoad): Promise<RunResult> {
  const connections = await openLines(endpoint, load.workers);
  const fetchLine = requestLine('process_events', { stream_name: load.stream, consumer: load.consumer, max_events: load.batch }, endpoint);
  try {
    return await drainLoop({
      connections,
      events: load.events,
      progress: load.progress,
      ...(load.stopped === undefined ? {} : { stopped: load.stopped }),
      fetch: async (connection: PipelinedConnection<string>) => (parseReply(await connection.send(fetchLine), 'process_events').body?.events ?? []).map((e) => e.id),
      ack: async (connection, ids) => {
        parseReply(await connection.send(requestLine('mark_event', { event_ids: ids, status: 1, consumer: load.consumer }, endpoint)), 'mark_event');
      },
    });
  } finally {
    for (const connection of connections) connection.close();
  }
}
