/**
 * The admin page in a real headless Chromium (Debian's `chromium` package, driven by
 * playwright-core through its executable path; no browser is downloaded). It loads with no
 * console errors and nothing from outside this server, shows the streams and consumers a test
 * made over TCP, draws the chart while a writer runs, creates and deletes a stream, takes a
 * snapshot, and refuses changes without credentials when clients are configured.
 *
 * Without Chromium the tests skip, saying how to install it: `apt-get install chromium`
 * (.ci/run installs it). docs/admin-page.png is made by admin-screenshot.ts (npm run screenshot).
 */
import t from 'tap';
import type { BrowserContext, Page } from 'playwright-core';
import { browserFor, chromiumMissing } from './chromium.js';
import { httpServerFor, storeWithBrokenStream, type HttpTestServer } from './http-helpers.js';

const skip = chromiumMissing();

interface OpenedPage {
  page: Page;
  /** Console errors and page errors so far. */
  errors: string[];
  /** Every URL the page asked for. */
  requests: string[];
}

async function openPage(browser: BrowserContext, server: HttpTestServer): Promise<OpenedPage> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(`http://127.0.0.1:${server.httpPort}/`);
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 60_000 });
  return { page, errors, requests };
}

/** Polls `check` (the page's CSP forbids the string predicates of waitForFunction). */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const streamRow = (name: string) => `#streams tbody tr[data-stream="${name}"]`;

t.test('the page loads offline with no console errors and shows the streams and consumers a test made', { skip }, async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  await client.createStream('orders');
  await client.createStream('payments <b>bold</b>');
  for (let i = 0; i < 12; i++) await client.writeEvent('orders', { i });
  await client.processEvents('orders', { consumer: 'billing', maxEvents: 5 });
  const browser = await browserFor(t);
  const { page, errors, requests } = await openPage(browser, server);

  const orders = page.locator(streamRow('orders'));
  await orders.waitFor();
  const cells = await orders.locator('td').allTextContents();
  t.equal(cells[0], 'orders');
  t.equal(cells[1], '12', 'its event count');
  t.match(cells[3]!, /\d+(\.\d)? (B|KiB)/, 'its size');
  t.equal(await page.locator(streamRow('payments <b>bold</b>')).locator('td').first().textContent(), 'payments <b>bold</b>', 'names are text, never HTML');
  t.equal(await page.locator('#streams b').count(), 0);
  const consumer = await page.locator('#consumers tbody tr').first().locator('td').allTextContents();
  t.same(consumer.slice(0, 5), ['orders', 'billing', '5', '7', '5'], 'stream, consumer, cursor, lag, pending');
  t.equal(await page.locator('#readiness').textContent(), 'ready');
  t.match(await page.locator('#damage tbody').textContent(), /No damage found/);
  t.same(errors, [], 'no console errors');
  const foreign = requests.filter((url) => !url.startsWith(`http://127.0.0.1:${server.httpPort}/`) && !url.startsWith('data:'));
  t.same(foreign, [], 'nothing loaded from anywhere else (no CDN)');
  t.ok(requests.some((url) => url.endsWith('/assets/uPlot.iife.min.js')), 'uPlot served by the server');
});

t.test('the chart follows a writer: points are added each second and show its rate', { skip }, async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  await client.createStream('live');
  const browser = await browserFor(t);
  const { page, errors } = await openPage(browser, server);
  const points = async () => Number(await page.locator('#chart').getAttribute('data-points'));
  const before = await points();
  let writing = true;
  const writer = (async () => {
    let n = 0;
    while (writing) await Promise.all(Array.from({ length: 20 }, () => client.writeEvent('live', { n: n++ })));
  })();
  const rateShown = async () => Number((await page.locator(streamRow('live')).locator('td').nth(4).textContent())!.replace(/,/g, ''));
  // Read while the writer runs: a second after it stops, the rates shown are rightly zero again.
  let lastWrites = 0;
  let rate = 0;
  try {
    await until(async () => (lastWrites = Number(await page.locator('#chart').getAttribute('data-last-writes'))) > 0, 'writes/s above zero on the chart');
    await until(async () => (await points()) >= before + 3, 'three more points on the chart');
    await until(async () => (rate = await rateShown()) > 0, "the stream's write rate in the table");
  } finally {
    writing = false;
    await writer;
  }
  t.ok((await points()) >= before + 3, 'new points while the writer ran');
  t.ok(lastWrites > 0, `writes/s above zero (${lastWrites})`);
  t.equal(await page.locator('#chart canvas').count(), 1, 'uPlot drew the chart');
  t.match(await page.locator('#chart .u-legend').textContent(), /writes\/s.*consumed\/s.*p99 append/s, 'the three series');
  t.ok(rate > 0, `the stream's write rate is shown (${rate}/s)`);
  t.same(errors, []);
});

t.test('streams are created and deleted through the page, and a snapshot taken', { skip }, async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  const browser = await browserFor(t);
  const { page, errors } = await openPage(browser, server);

  await page.fill('#create-name', 'made-in-browser');
  await page.click('#create-button');
  await page.locator(streamRow('made-in-browser')).waitFor();
  t.equal((await client.getStreamInfo('made-in-browser')).name, 'made-in-browser', 'the stream exists on the TCP side');
  t.match(await page.locator('#message').textContent(), /Created stream made-in-browser/);

  await page.fill('#create-name', 'made-in-browser');
  await page.click('#create-button');
  await page.waitForSelector('#message.error');
  t.match(await page.locator('#message').textContent(), /STREAM_EXISTS/, 'a refusal is shown with its code');

  const remove = page.locator(`button[data-delete="made-in-browser"]`);
  await remove.click();
  t.equal(await remove.textContent(), 'Confirm delete', 'deleting asks for a second click');
  await remove.click();
  await page.locator(streamRow('made-in-browser')).waitFor({ state: 'detached' });
  await t.rejects(client.getStreamInfo('made-in-browser'), { code: 'STREAM_NOT_FOUND' }, 'gone on the TCP side');

  await page.click('#snapshot-button');
  await page.waitForSelector('#snapshots tbody td:has-text("OK")');
  t.match(await page.locator('#message').textContent(), /Snapshot taken/);
  // STREAM_EXISTS answered 409: the browser logs that failed request, and nothing else.
  t.same(errors.filter((e) => !/status of 409/.test(e)), []);
});

t.test('streams named . and .. are deleted through the page (a browser resolves dot segments in a path)', { skip }, async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  for (const name of ['.', '..', 'neighbour']) await client.createStream(name);
  const browser = await browserFor(t);
  const { page, errors } = await openPage(browser, server);
  for (const name of ['.', '..']) {
    await page.locator(streamRow(name)).waitFor();
    const remove = page.locator(`button[data-delete="${name}"]`);
    await remove.click();
    await remove.click();
    await page.locator(streamRow(name)).waitFor({ state: 'detached', timeout: 15_000 });
    t.match(await page.locator('#message').textContent(), `Deleted stream ${name} and its events.`);
    await t.rejects(client.getStreamInfo(name), { code: 'STREAM_NOT_FOUND' }, `${name} is gone on the TCP side`);
  }
  t.equal((await client.getStreamInfo('neighbour')).name, 'neighbour', 'nothing else was deleted');
  t.same(errors, [], 'no console errors');
});

t.test('a stream that failed to open: the header counts it as /readyz does, and says it failed', { skip }, async (t) => {
  const dataDir = await storeWithBrokenStream();
  const server = await httpServerFor(t, { engineOptions: { dataDir } });
  const browser = await browserFor(t);
  const { page, errors } = await openPage(browser, server);
  await page.locator(streamRow('good')).waitFor();
  const readyz = (await (await fetch(`http://127.0.0.1:${server.httpPort}/readyz`)).json()) as { streams: number };
  t.equal(readyz.streams, 2);
  t.match(await page.locator('#summary').textContent(), /^2 streams \(1 failed to open\) · 3 events/, 'the header agrees with /readyz and says one failed');
  t.equal(await page.locator('#streams-note').textContent(), '1', 'the table lists the open one, all of them');
  t.match(await page.locator('#damage tbody').textContent(), /bad.*stream failed to open/);
  t.same(errors, []);
});

t.test('with clients configured, changes are refused without credentials and made with them, asked once', { skip }, async (t) => {
  const credentials = { clientId: 'admin', clientSecret: 'p4ss:word' };
  const server = await httpServerFor(t, { clients: { admin: { client_id: credentials.clientId, client_secret: credentials.clientSecret } } });
  const client = await server.client(credentials);
  await client.createStream('existing');
  const browser = await browserFor(t);
  const { page } = await openPage(browser, server);
  await page.locator(streamRow('existing')).waitFor();
  t.equal(await page.locator('#auth-state').textContent(), 'signed out');

  // Cancelled: refused, nothing created.
  await page.fill('#create-name', 'sneaky');
  await page.click('#create-button');
  await page.waitForSelector('#login-dialog[open]');
  await page.click('#login-cancel');
  await page.waitForSelector('#message.error');
  t.match(await page.locator('#message').textContent(), /Refused/);
  await t.rejects(client.getStreamInfo('sneaky'), { code: 'STREAM_NOT_FOUND' });

  // Wrong credentials: 401, refused, nothing created; the page asks again.
  await page.click('#create-button');
  await page.fill('#login-id', 'admin');
  await page.fill('#login-secret', 'wrong');
  await page.click('#login-submit');
  await page.waitForSelector('#login-dialog[open]');
  t.match(await page.locator('#message').textContent(), /UNAUTHORIZED/, 'the refusal is shown');
  await page.click('#login-cancel');
  await t.rejects(client.getStreamInfo('sneaky'), { code: 'STREAM_NOT_FOUND' });

  // Right credentials: made; and not asked again for the next change.
  await page.click('#create-button');
  await page.fill('#login-id', credentials.clientId);
  await page.fill('#login-secret', credentials.clientSecret);
  await page.click('#login-submit');
  await page.locator(streamRow('sneaky')).waitFor();
  t.equal(await page.locator('#auth-state').textContent(), 'signed in');
  await page.locator('button[data-delete="existing"]').click();
  // A redraw by the page's poll (every second) between the two clicks keeps it armed.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.equal(await page.locator('button[data-delete="existing"]').textContent(), 'Confirm delete', 'still armed after the table was redrawn');
  await page.locator('button[data-delete="existing"]').click();
  await page.locator(streamRow('existing')).waitFor({ state: 'detached' });
  t.equal(await page.locator('#login-dialog[open]').count(), 0, 'credentials were asked for once');

  // The same API without credentials, from outside the page.
  const refused = await fetch(`http://127.0.0.1:${server.httpPort}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"curl"}' });
  t.equal(refused.status, 401);
  t.match(refused.headers.get('www-authenticate') ?? '', /^Basic /, 'outside the page, a Basic challenge');
  t.match(await refused.json(), { error: { code: 'UNAUTHORIZED' } });
  const basic = `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`).toString('base64')}`;
  const made = await fetch(`http://127.0.0.1:${server.httpPort}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic }, body: '{"name":"curl"}' });
  t.equal(made.status, 201);
  t.match(await made.json(), { stream: { name: 'curl' } });
});

t.test('an action while the server cannot be reached says so on the page, with no uncaught error', { skip }, async (t) => {
  const server = await httpServerFor(t);
  const browser = await browserFor(t);
  const { page, errors } = await openPage(browser, server);
  await server.server.close();

  await page.fill('#create-name', 'unreachable');
  await page.click('#create-button');
  await page.waitForSelector('#message.error');
  t.match(await page.locator('#message').textContent(), /^Cannot reach the server: /, 'Create stream: the message says why nothing happened');
  t.equal(await page.locator('#create-name').inputValue(), 'unreachable', 'the name is kept for another try');

  await page.locator('#message').evaluate((box: { textContent: string | null; className: string }) => {
    box.textContent = '';
    box.className = '';
  });
  await page.click('#snapshot-button');
  await page.waitForSelector('#message.error');
  t.match(await page.locator('#message').textContent(), /^Cannot reach the server: /, 'Take snapshot: the same');
  // The browser logs each refused connection (the page's polls too); nothing else, and no uncaught rejection.
  t.same(errors.filter((e) => !/ERR_CONNECTION_REFUSED/.test(e)), [], 'no page error');
});

t.test('with more streams than the page lists, the consumers table says whose consumers it shows', { skip }, async (t) => {
  const server = await httpServerFor(t);
  for (let i = 0; i < 501; i++) await server.engine.createStream(`s${String(i).padStart(3, '0')}`);
  const client = await server.client();
  await client.createStream('zz-last');
  await client.processEvents('s000', { consumer: 'shown', maxEvents: 1 });
  await client.processEvents('zz-last', { consumer: 'cut', maxEvents: 1 });
  const browser = await browserFor(t);
  const { page, errors } = await openPage(browser, server);
  t.equal(await page.locator('#streams-note').textContent(), 'first 500 of 502 by name');
  t.same(await page.locator('#consumers tbody tr td:nth-child(2)').allTextContents(), ['shown'], 'only the listed streams\' consumers are rows');
  t.equal(await page.locator('#consumers-note').textContent(), '1 of 2: those of the first 500 streams by name', 'and the table says it is cut');
  t.same(errors, []);
});
