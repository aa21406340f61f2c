/**
 * `eventbus streams`, `create`, `delete` and `info`: the streams of a running server, with
 * their figures and consumers. JSON output is the wire's objects (list_streams, get_stream_info,
 * create_stream): one stream per line for `streams`.
 */
import type { EventBusClient } from '../client/client.js';
import { ErrorCodes, isEventBusError } from '../errors.js';
import { CommandFailure } from './command-failure.js';
import { canAsk, confirm } from './confirm.js';
import { withClient, type ConnectionFlags } from './connection-options.js';
import { Output, formatBytes, formatCount, formatOffsets } from './output.js';

/** A stream object as list_streams and get_stream_info send it. */
interface WireStream {
  id: string;
  name: string;
  created_at: string;
  event_count?: number;
  first_offset?: number;
  next_offset?: number;
  bytes?: number;
  segment_count?: number;
  consumers?: { name: string; cursor: number; ack_floor: number; pending: number; retry: number; dead_lettered: number; lag: number }[];
  damage?: { file: string; position: number; first_offset: number; last_offset: number; reason: string }[];
  error?: { code: string; reason: string };
}

/** Streams asked for per list_streams request. */
const PAGE_STREAMS = 500;

/** Every stream, page after page, in name order. */
async function* allStreams(client: EventBusClient): AsyncGenerator<WireStream> {
  let fromName: string | undefined;
  for (;;) {
    const body = (await client.request('list_streams', { from_name: fromName, max_streams: PAGE_STREAMS })).body as { streams: WireStream[]; next_name: string | null };
    yield* body.streams;
    if (body.next_name === null) return;
    fromName = body.next_name;
  }
}

function consumersCell(out: Output, stream: WireStream): string {
  if (stream.error !== undefined) return out.paint('red', `${stream.error.code}: ${stream.error.reason}`);
  const consumers = stream.consumers ?? [];
  if (consumers.length === 0) return out.dim('none');
  return consumers.map((c) => `${c.name} ${c.lag > 0 || c.pending > 0 ? out.paint('yellow', `lag ${formatCount(c.lag)}, pending ${formatCount(c.pending)}`) : out.dim('caught up')}`).join('\n');
}

export interface StreamsFlags extends ConnectionFlags {
  names?: boolean;
}

/** `eventbus streams`. */
export async function streamsCommand(flags: StreamsFlags): Promise<void> {
  const out = new Output(flags);
  await withClient(flags, async (client) => {
    if (flags.names === true) {
      for await (const stream of allStreams(client)) await out.line(stream.name);
      return;
    }
    if (out.json) {
      for await (const stream of allStreams(client)) await out.value(stream);
      return;
    }
    const rows: (string | number)[][] = [];
    for await (const s of allStreams(client)) {
      const damaged = (s.damage ?? []).length > 0 ? out.paint('red', ' (damaged)') : '';
      rows.push([`${s.name}${damaged}`, s.event_count ?? 0, formatBytes(s.bytes ?? 0), s.event_count === 0 || s.event_count === undefined ? '' : `${formatCount(s.first_offset ?? 0)}–${formatCount((s.next_offset ?? 1) - 1)}`, consumersCell(out, s)]);
    }
    if (rows.length === 0) {
      await out.line(out.dim("no streams (create one with 'eventbus create NAME')"));
      return;
    }
    await out.line(out.table(['stream', 'events', 'size', 'offsets', 'consumers'], rows, ['left', 'right', 'right', 'right', 'left']));
  });
}

export interface CreateFlags extends ConnectionFlags {
  existsOk?: boolean;
}

/** `eventbus create NAME`. */
export async function createCommand(name: string, flags: CreateFlags): Promise<void> {
  const out = new Output(flags);
  await withClient(flags, async (client) => {
    let created = true;
    let stream: WireStream;
    try {
      stream = ((await client.request('create_stream', { stream_name: name })).body as { stream: WireStream }).stream;
    } catch (error) {
      if (flags.existsOk !== true || !isEventBusError(error, ErrorCodes.STREAM_EXISTS)) throw error;
      stream = ((await client.request('get_stream_info', { stream_name: name })).body as { stream: WireStream }).stream;
      created = false;
    }
    if (out.json) await out.value({ id: stream.id, name: stream.name, created_at: stream.created_at, created });
    else await out.line(`${created ? 'created' : 'exists already:'} stream ${out.bold(stream.name)} ${out.dim(`(id ${stream.id}, created ${stream.created_at})`)}`);
  }, undefined, { unanswered: () => `stream ${name} may or may not have been created` });
}

export interface DeleteFlags extends ConnectionFlags {
  yes?: boolean;
}

/**
 * `eventbus delete NAME`: asks first on a terminal, unless --yes (issue 14). The answer comes
 * from stdin, so the question is asked whenever stdin is a terminal, wherever stderr goes; a
 * script (stdin not a terminal) is not asked, as with redis-cli.
 */
export async function deleteCommand(name: string, flags: DeleteFlags): Promise<void> {
  const out = new Output(flags);
  let sent = false;
  await withClient(flags, async (client) => {
    if (flags.yes !== true && canAsk()) {
      const info = ((await client.request('get_stream_info', { stream_name: name })).body as { stream: WireStream }).stream;
      const consumers = info.consumers?.length ?? 0;
      const events = info.event_count ?? 0;
      const question = `delete stream '${name}' with its ${formatCount(events)} event${events === 1 ? '' : 's'} and ${formatCount(consumers)} consumer${consumers === 1 ? '' : 's'}? This cannot be undone.`;
      if (!(await confirm(question))) throw new CommandFailure(1, 'not deleted (answer y to delete, or pass --yes)');
    }
    sent = true;
    await client.request('delete_stream', { stream_name: name });
    if (out.json) await out.value({ name, deleted: true });
    else await out.line(`deleted stream ${out.bold(name)}`);
  }, undefined, { unanswered: () => (sent ? `stream ${name} may or may not have been deleted` : undefined) });
}

/** `eventbus info NAME`. */
export async function infoCommand(name: string, flags: ConnectionFlags): Promise<void> {
  const out = new Output(flags);
  await withClient(flags, async (client) => {
    const s = ((await client.request('get_stream_info', { stream_name: name })).body as { stream: WireStream }).stream;
    if (out.json) {
      await out.value(s);
      return;
    }
    const events = s.event_count ?? 0;
    const lines = [
      `${out.bold('stream')} ${s.name}`,
      `  id        ${s.id}`,
      `  created   ${s.created_at}`,
      `  events    ${formatCount(events)}${events > 0 ? ` (${formatOffsets(s.first_offset ?? 0, (s.next_offset ?? 1) - 1)})` : ''}; the next is offset ${formatCount(s.next_offset ?? 0)}`,
      `  size      ${formatBytes(s.bytes ?? 0)} in ${s.segment_count ?? 0} segment${s.segment_count === 1 ? '' : 's'}`,
    ];
    const consumers = s.consumers ?? [];
    if (consumers.length === 0) lines.push(`${out.bold('consumers')} ${out.dim('none yet (the first process_events creates one)')}`);
    else {
      lines.push(out.bold('consumers'));
      lines.push(out.table(['name', 'cursor', 'ack floor', 'pending', 'retry', 'dead-lettered', 'lag'],
        consumers.map((c) => [c.name, c.cursor, c.ack_floor, c.pending, c.retry, c.dead_lettered, c.lag]),
        ['left', 'right', 'right', 'right', 'right', 'right', 'right']));
    }
    for (const d of s.damage ?? []) lines.push(out.paint('red', `damage: ${d.file} at byte ${d.position}: offsets ${d.first_offset}–${d.last_offset}: ${d.reason}`));
    await out.line(lines.join('\n'));
  });
}
