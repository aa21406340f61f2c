/**
 * Drives generated cases through one raw connection, pipelined: writes batches while fewer than
 * a window of answers are outstanding, matches every response line, in order, to its case's
 * expectation, and reports every mismatch (with the line that caused it).
 */
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { FuzzCase } from './generator.js';
import { check, type Expectation } from './oracle.js';

export interface Mismatch {
  kind: string;
  line: string;
  response: string;
  problem: string;
}

export interface DriveResult {
  /** Lines sent (blank ones included). */
  sent: number;
  /** Responses received. */
  answered: number;
  /** Expected UNAUTHORIZED answers (the server's authFailures must grow by this much). */
  unauthorized: number;
  mismatches: Mismatch[];
  /** Mismatches beyond those kept. */
  moreMismatches: number;
  kinds: Record<string, number>;
}

/** How a case's line is shown in a report: text if printable, else hex; long ones cut. */
export function show(line: Buffer): string {
  const text = line.toString('utf8');
  const shown = Buffer.from(text, 'utf8').equals(line) ? JSON.stringify(text) : `hex:${line.toString('hex')}`;
  return shown.length > 400 ? `${shown.slice(0, 400)}… (${line.length} bytes)` : shown;
}

/**
 * Sends `count` cases from `next()` over a new connection to `port` and checks every answer.
 * Resolves once every answer has arrived, or rejects if the connection closes first or no answer
 * comes for `stallMs`.
 */
export async function drive(port: number, next: () => FuzzCase, count: number, options: { window?: number; stallMs?: number; keep?: number } = {}): Promise<DriveResult> {
  const window = options.window ?? 4096;
  const stallMs = options.stallMs ?? 30_000;
  const keep = options.keep ?? 20;
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const result: DriveResult = { sent: 0, answered: 0, unauthorized: 0, mismatches: [], moreMismatches: 0, kinds: {} };
  /** Cases awaiting an answer, oldest first (blank lines are never queued). */
  const queue: { kind: string; line: Buffer; expectation: Expectation }[] = [];
  let head = 0;
  let partial = '';
  const decoder = new StringDecoder('utf8');
  let lastProgressMs = Date.now();
  let wake: (() => void) | null = null;
  let failure: Error | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };

  socket.on('data', (chunk: Buffer) => {
    lastProgressMs = Date.now();
    partial += decoder.write(chunk);
    let start = 0;
    for (;;) {
      const end = partial.indexOf('\n', start);
      if (end === -1) break;
      const response = partial.slice(start, end);
      start = end + 1;
      const item = queue[head];
      if (item === undefined) {
        failure ??= new Error(`an extra response line: ${response.slice(0, 300)}`);
        continue;
      }
      queue[head] = undefined as never;
      head += 1;
      result.answered += 1;
      const problem = check(response, item.expectation);
      if (problem !== null) {
        if (result.mismatches.length < keep) result.mismatches.push({ kind: item.kind, line: show(item.line), response: response.slice(0, 400), problem });
        else result.moreMismatches += 1;
      }
    }
    partial = partial.slice(start);
    if (head > 65_536) {
      queue.splice(0, head);
      head = 0;
    }
    notify();
  });
  let blocked = false;
  socket.on('drain', () => {
    blocked = false;
    notify();
  });
  socket.on('error', (error) => {
    failure ??= error;
    notify();
  });
  socket.on('close', () => {
    failure ??= new Error(`the server closed the connection after ${result.answered} answers`);
    notify();
  });

  const waitFor = async (condition: () => boolean) => {
    while (!condition()) {
      if (failure !== null) throw failure;
      if (Date.now() - lastProgressMs > stallMs) throw new Error(`no answer for ${stallMs} ms (${queue.length - head} outstanding)`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 1000).unref();
      });
    }
  };

  try {
    while (result.sent < count) {
      await waitFor(() => queue.length - head < window);
      const parts: Buffer[] = [];
      let bytes = 0;
      while (result.sent < count && parts.length < 512 && bytes < 1 << 20) {
        const c = next();
        result.sent += 1;
        result.kinds[c.kind] = (result.kinds[c.kind] ?? 0) + 1;
        parts.push(c.line, NEWLINE);
        bytes += c.line.length + 1;
        if (c.verdict === 'blank') continue;
        if (c.verdict.outcomes.every((o) => !o.ok && o.code === 'UNAUTHORIZED')) result.unauthorized += 1;
        queue.push({ kind: c.kind, line: c.line, expectation: c.verdict });
      }
      lastProgressMs = Date.now();
      if (!socket.write(Buffer.concat(parts, bytes))) {
        blocked = true;
        await waitFor(() => !blocked);
      }
    }
    await waitFor(() => head === queue.length);
    // Nothing extra, and the connection still works.
    socket.write('{"operation":"health","request_id":"end"}\n');
    queue.push({ kind: 'end', line: Buffer.from('end'), expectation: { operation: 'health', requestId: { value: 'end', line: '"end"' }, outcomes: [{ ok: true, line: '{"operation":"health","status":true,"request_id":"end"}' }] } });
    await waitFor(() => head === queue.length);
    if (partial !== '') throw new Error(`a partial response line: ${partial.slice(0, 200)}`);
  } finally {
    socket.destroy();
  }
  return result;
}

const NEWLINE = Buffer.from('\n');
