/**
 * Helpers of the HTTP-port tests: an in-process server with its HTTP port, /metrics scraped and
 * parsed by a real Prometheus text-format parser (parse-prometheus-text-format, prom2json's
 * shape), and raw HTTP over a socket for requests no well-behaved client would send.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { EventBusClient } from '../../src/client/index.js';
import type { HttpOptions } from '../../src/server/http/http-options.js';
import { packageResources } from '../../src/cli/package-resources.js';
import { serverFor, startInProcess, type InProcessServer } from '../helpers/server-inprocess.js';

export interface HttpTestServer extends InProcessServer {
  httpPort: number;
  /** A client of the TCP side, closed when the test ends. */
  client(credentials?: { clientId: string; clientSecret: string }): Promise<EventBusClient>;
}

/** An in-process server with the HTTP port on (page assets from this checkout), closed when `t` ends. */
export async function httpServerFor(
  t: { teardown(fn: () => Promise<void> | void): void },
  options: Parameters<typeof serverFor>[1] & { httpOptions?: Partial<HttpOptions> } = {},
): Promise<HttpTestServer> {
  const { httpOptions, ...rest } = options;
  const started = await serverFor(t, { ...rest, http: { port: 0, assets: packageResources().pageAsset, ...httpOptions } });
  const clients: EventBusClient[] = [];
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });
  return {
    ...started,
    httpPort: started.server.http!.port,
    async client(credentials) {
      const client = await EventBusClient.connect({ port: started.port, ...(credentials === undefined ? {} : { auth: credentials }) });
      clients.push(client);
      return client;
    },
  };
}

/** GET /metrics, checked to be the Prometheus text format, parsed. */
export async function scrape(httpPort: number): Promise<Metrics> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain') || !type.includes('version=0.0.4')) throw new Error(`/metrics content type ${type}`);
  return new Metrics(parsePrometheusTextFormat(await response.text()));
}

/** Parsed metric families, with lookups by name and labels. */
export class Metrics {
  private readonly byName: Map<string, PrometheusFamily>;

  constructor(readonly families: PrometheusFamily[]) {
    this.byName = new Map(families.map((f) => [f.name, f]));
  }

  family(name: string): PrometheusFamily {
    const family = this.byName.get(name);
    if (family === undefined) throw new Error(`no metric ${name} in /metrics`);
    return family;
  }

  /** The value of the one sample of `name` whose labels are exactly `labels`; undefined if none. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const sample = this.family(name).metrics.find((m) => sameLabels(m.labels ?? {}, labels));
    return sample?.value === undefined ? undefined : Number(sample.value);
  }

  /** The sum of every sample of `name` (a counter or gauge). */
  sum(name: string): number {
    return this.family(name).metrics.reduce((total, m) => total + Number(m.value ?? 0), 0);
  }

  /** A histogram's count (no labels). */
  histogramCount(name: string): number {
    return Number(this.family(name).metrics[0]?.count ?? Number.NaN);
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** Sends `bytes` on a new socket and resolves with everything the server sends back before closing. */
export function rawHttp(port: number, bytes: string | Buffer, options: { keepOpenMs?: number; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${options.timeoutMs ?? 10_000} ms; received: ${received.slice(0, 300)}`));
    }, options.timeoutMs ?? 10_000);
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write(bytes);
  });
}

/** The status code of a raw HTTP response text (0 when there is none). */
export function statusOf(response: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(response);
  return match === null ? 0 : Number(match[1]);
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  /** The body parsed as JSON (undefined when empty or not JSON). */
  json: unknown;
}

/**
 * One request over a raw socket, its target and Host sent exactly as given (no URL
 * normalisation, as `curl --path-as-is`, and any Host header: `fetch` sends neither).
 * `Connection: close` is added.
 */
export async function rawRequest(
  port: number,
  method: string,
  target: string,
  options: { host?: string | null; headers?: Record<string, string>; body?: string } = {},
): Promise<RawAnswer> {
  const lines = [`${method} ${target} HTTP/1.1`];
  const host = options.host === undefined ? `127.0.0.1:${port}` : options.host;
  if (host !== null) lines.push(`Host: ${host}`);
  for (const [name, value] of Object.entries(options.headers ?? {})) lines.push(`${name}: ${value}`);
  if (options.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(options.body)}`);
  lines.push('Connection: close');
  const text = await rawHttp(port, `${lines.join('\r\n')}\r\n\r\n${options.body ?? ''}`);
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : Buffer.from(text.slice(split + 4), 'latin1').toString('utf8');
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let json: unknown;
  try {
    json = body === '' ? undefined : JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: statusOf(text), headers, json };
}

/**
 * A data directory holding the streams `good` (3 events) and `bad`, whose directory was replaced
 * by a file while the store was closed: `bad` fails to open (a broken stream). The server the
 * test opens on it removes it when it closes (httpServerFor without keepData).
 */
export async function storeWithBrokenStream(): Promise<string> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'eventbus-broken-'));
  const streamsDir = path.join(dataDir, 'streams');
  const first = await startInProcess({ engineOptions: { dataDir }, keepData: true });
  await first.engine.createStream('bad');
  await first.close();
  const [badDir] = readdirSync(streamsDir);
  const second = await startInProcess({ engineOptions: { dataDir }, keepData: true });
  await second.engine.createStream('good');
  for (let i = 0; i < 3; i++) await second.engine.append('good', Buffer.from(`{"i":${i}}`));
  await second.close();
  rmSync(path.join(streamsDir, badDir!), { recursive: true });
  writeFileSync(path.join(streamsDir, badDir!), 'not a directory\n');
  return dataDir;
}
