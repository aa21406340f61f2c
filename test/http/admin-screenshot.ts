/**
 * Makes docs/admin-page.png: a server with a few streams, a writer and a consumer running for
 * about half a minute, and the admin page in headless Chromium (chromium.ts). Not a test:
 * `npm run screenshot` (after `npm run build`) runs it when the page changes.
 */
import { fileURLToPath } from 'node:url';
import { browserFor, chromiumMissing } from './chromium.js';
import { httpServerFor } from './http-helpers.js';

const OUTPUT = fileURLToPath(new URL('../../../docs/admin-page.png', import.meta.url));
const RUN_MS = 30_000;

const teardowns: (() => void | Promise<void>)[] = [];
const owner = { teardown: (fn: () => void | Promise<void>) => void teardowns.push(fn) };

async function main(): Promise<void> {
  const missing = chromiumMissing();
  if (missing !== false) throw new Error(missing);
  const server = await httpServerFor(owner);
  const writer = await server.client();
  const reader = await server.client();
  for (const name of ['orders', 'payments', 'audit-log']) await writer.createStream(name);
  for (let i = 0; i < 500; i++) await writer.writeEvent('audit-log', { i, who: 'setup' });
  await writer.snapshot('nightly');
  const browser = await browserFor(owner, { width: 1280, height: 1000 });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.httpPort}/`);
  const endMs = Date.now() + RUN_MS;
  let n = 0;
  const write = (async () => {
    while (Date.now() < endMs) {
      // A rate that rises and falls, so the chart shows something.
      const burst = 20 + Math.round(60 * (1 + Math.sin(n / 400)));
      await Promise.all(Array.from({ length: burst }, () => writer.writeEvent(n % 3 === 0 ? 'payments' : 'orders', { n: n++, total: 12.5 })));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const consume = (async () => {
    while (Date.now() < endMs) {
      const { events } = await reader.processEvents('orders', { consumer: 'billing', maxEvents: 100, waitMs: 200 });
      if (events.length > 0) await reader.markEvent(events.map((e) => e.id), 1, { consumer: 'billing' });
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
  })();
  await Promise.all([write, consume]);
  await reader.processEvents('payments', { consumer: 'fraud-check', maxEvents: 50 });
  await writer.snapshot('hourly');
  await new Promise((resolve) => setTimeout(resolve, 2500));
  await page.screenshot({ path: OUTPUT, fullPage: true });
  process.stdout.write(`wrote ${OUTPUT}\n`);
}

try {
  await main();
} finally {
  for (const fn of teardowns.reverse()) await fn();
}
