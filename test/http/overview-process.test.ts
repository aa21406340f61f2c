/**
 * /api/overview of a real `eventbus serve --http-port` process, as a caller sees it: the write
 * rates it reports are the server's own (sampled on its timer), whoever polls and however
 * rarely, and its `since` query is one whole number of ms or a 400.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { serverProcessFor, tempDir } from '../helpers/server-process.js';
import type { TapTest } from '../helpers/temp-dir.js';

interface Overview {
  streams: { name: string; write_rate: number }[];
}

async function httpServer(t: TapTest): Promise<{ httpPort: number; client: EventBusClient }> {
  const httpPortFile = path.join(tempDir(t), 'http-port');
  const server = await serverProcessFor(t, { args: ['--http-port', '0', '--http-port-file', httpPortFile] });
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  return { httpPort: Number(readFileSync(httpPortFile, 'utf8').trim()), client };
}

async function overview(httpPort: number, query = ''): Promise<Response> {
  return fetch(`http://127.0.0.1:${httpPort}/api/overview${query}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('write_rate is the rate of the last seconds, not the average since the previous call', async (t) => {
  const { httpPort, client } = await httpServer(t);
  await client.createStream('e');
  await overview(httpPort);
  await sleep(8_000); // idle, long after the previous call
  // A burst of about 200 events/s for 6 s, paced, then a call at once.
  const burstMs = 6_000;
  const startedMs = Date.now();
  let written = 0;
  while (Date.now() - startedMs < burstMs) {
    const due = Math.floor(((Date.now() - startedMs) * 200) / 1000);
    const writes: Promise<unknown>[] = [];
    for (; written < due; written++) writes.push(client.writeEvent('e', { n: written }));
    await Promise.all(writes);
    await sleep(5);
  }
  const rate = (await overview(httpPort).then((r) => r.json() as Promise<Overview>)).streams.find((s) => s.name === 'e')!.write_rate;
  const burstRate = (written * 1000) / (Date.now() - startedMs);
  t.ok(rate > burstRate * 0.8 && rate < burstRate * 1.2, `write_rate ${rate} is the burst's rate (${burstRate.toFixed(1)}/s), not diluted by the idle time before it`);
});
