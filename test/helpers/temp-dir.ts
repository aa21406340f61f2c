/**
 * Temporary directories for tests: unique, under the operating system's temp directory, removed
 * when the test that asked for them ends (pass or fail).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type tap from 'tap';

/** The part of a tap test this helper needs (so it works with any `t`). */
export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/**
 * Creates a fresh empty directory `eventbus-<label>-XXXXXX` under os.tmpdir() and removes it, with
 * everything in it, when `t` ends. Set EVENTBUS_KEEP_TEST_DIRS=1 to keep it for inspection.
 */
export function tempDir(t: Teardown, label = 'test'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `eventbus-${label.replace(/[^a-z0-9-]/gi, '_')}-`));
  t.teardown(() => {
    if (process.env.EVENTBUS_KEEP_TEST_DIRS === '1') {
      console.error(`# kept test directory ${dir}`);
      return;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** The type of a tap test's `t`, for helpers that take one. */
export type TapTest = Parameters<Parameters<typeof tap.test>[0]>[0];
