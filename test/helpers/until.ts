/** Waiting on a condition instead of sleeping a fixed time: what tests on a loaded machine need. */

/** Polls `condition` (awaited) every 10 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}
