/**
 * A per-attempt timeout for a Bot API call whose timer ends with the call.
 *
 * Why not `AbortSignal.timeout(ms)`: its timer and signal stay alive for the whole timeout
 * (30 s by default) after the call returned, so a bot sending thousands of messages a second
 * keeps tens of thousands of them in memory (measured by bench:echo: most of unlost's peak
 * memory above grammY's while draining a backlog).
 *
 * Why the controllers are reused: a fresh `AbortController` per call costs an `AbortSignal`
 * (an event target with its own maps) and the listener grammY adds to it, all alive for the
 * whole request. With hundreds of replies in flight V8 promotes much of that to its old
 * generation, which then grows by V8's largest factor (bench:echo, `--trace-gc-verbose`: ~1 KiB
 * less old-generation allocation per reply with reuse). A controller goes back to the pool only
 * when its call settled without an abort and nobody listens to its signal any more, so a
 * signal handed to a call is never aborted on behalf of a later one that someone still holds.
 */
import { getEventListeners } from "node:events";

/** Controllers kept for reuse (more in flight at once are simply made and dropped). */
const MAX_POOLED = 1024;
const pool: AbortController[] = [];

/** Runs `call` with a signal aborted after `ms` (a `TimeoutError`, like `AbortSignal.timeout`); the timer is cleared when it settles. */
export async function withCallTimeout<T>(ms: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = pool.pop() ?? new AbortController();
  const timer = setTimeout(abortForTimeout, ms, controller, ms);
  try {
    return await call(controller.signal);
  } finally {
    clearTimeout(timer);
    release(controller);
  }
}

function abortForTimeout(controller: AbortController, ms: number): void {
  controller.abort(new DOMException(`the call did not finish within ${ms} ms`, "TimeoutError"));
}

/** Pools `controller` again when it is as good as new: not aborted, no listener left. */
function release(controller: AbortController): void {
  const signal = controller.signal;
  if (signal.aborted || pool.length >= MAX_POOLED || getEventListeners(signal, "abort").length > 0) return;
  pool.push(controller);
}

/** How many controllers wait for reuse (for tests). */
export function pooledCallControllers(): number {
  return pool.length;
}
