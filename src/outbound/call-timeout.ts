/**
 * A per-attempt timeout for a Bot API call whose timer ends with the call.
 *
 * Why not `AbortSignal.timeout(ms)`: its timer and signal stay alive for the whole timeout
 * (30 s by default) after the call returned, so a bot sending thousands of messages a second
 * keeps tens of thousands of them in memory (measured by bench:echo: most of unlost's peak
 * memory above grammY's while draining a backlog).
 */

/** Runs `call` with a signal aborted after `ms` (a `TimeoutError`, like `AbortSignal.timeout`); the timer is cleared when it settles. */
export async function withCallTimeout<T>(ms: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`the call did not finish within ${ms} ms`, "TimeoutError")), ms);
  try {
    return await call(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}
