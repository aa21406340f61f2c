/**
 * Shared by the tests of the engine's argument checks: a store opened without the retention
 * timer, and the check that a call fails with a given EventBusError naming a given field.
 */
import { Engine, isEventBusError, type EngineOptions } from 'eventbus/storage';
import type { TapTest } from './temp-dir.js';

/** Opens a store for a test (no retention timer). */
export function openStore(dataDir: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
  return Engine.open({ retentionIntervalMs: 0, ...options, dataDir });
}

/**
 * Runs `call` (sync or async) and checks it fails with an EventBusError of `code` whose
 * `context.field` is `field` (not checked when null); a test failure otherwise.
 */
export async function refusedWith(t: TapTest, call: () => unknown, code: string, field: string | null, label: string): Promise<void> {
  let error: unknown = null;
  try {
    await call();
  } catch (caught) {
    error = caught;
  }
  if (!isEventBusError(error)) {
    t.fail(`${label}: expected an EventBusError ${code}, got ${error === null ? 'success' : String(error)}`);
    return;
  }
  t.equal(error.code, code, `${label}: ${code} (${error.reason})`);
  if (field !== null) t.equal((error.context as { field?: string } | undefined)?.field, field, `${label}: names ${field}`);
}
