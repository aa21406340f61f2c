/**
 * Headless Chromium for the admin-page tests: Debian's `chromium` package driven by
 * playwright-core through its executable path (playwright downloads no browser here), with the
 * flags of a quiet, offline, throwaway browser and a fresh profile each time.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.EVENTBUS_CHROMIUM ?? '/usr/bin/chromium';

/** False when Chromium is there; else the reason to skip, saying how to install it. */
export function chromiumMissing(): false | string {
  return existsSync(CHROMIUM) ? false : `needs Chromium at ${CHROMIUM}: install it with \`apt-get install chromium\` (Debian), or set EVENTBUS_CHROMIUM to its path`;
}

/**
 * A fresh headless Chromium with a profile of its own (playwright passes it as --user-data-dir),
 * closed, and its profile removed, when `owner` ends.
 */
export async function browserFor(owner: { teardown(fn: () => Promise<void>): void }, viewport = { width: 1280, height: 900 }): Promise<BrowserContext> {
  const profile = mkdtempSync(path.join(tmpdir(), 'eventbus-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    // A first start on a fresh machine (font caches) and a loaded CI machine are slow.
    timeout: 120_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  browser.setDefaultTimeout(60_000);
  owner.teardown(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return browser;
}
