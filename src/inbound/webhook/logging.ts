/**
 * Log helpers of the receiver: errors made safe for any logger, and warnings that a flood of
 * bad requests cannot turn into a flood of log lines.
 *
 * @module
 */
import type { Logger } from "../../runtime/logger.js";

/**
 * A copy of `error` whose message and stack (and those of its causes) went through `clean`,
 * so secrets are gone whatever serializer the logger uses for `err`.
 */
export function loggableError(error: unknown, clean: (text: string) => string): Error {
  if (!(error instanceof Error)) return new Error(clean(String(error)));
  const copy = new Error(clean(error.message), error.cause === undefined ? undefined : { cause: loggableError(error.cause, clean) });
  copy.name = error.name;
  copy.stack = error.stack === undefined ? undefined : clean(error.stack);
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) Object.assign(copy, { code });
  return copy;
}

/**
 * A warning logger that writes the first warning at once and then at most one per `everyMs`,
 * with how many were left out meanwhile (anyone can POST to a public webhook URL).
 */
export function createWarningThrottle(
  log: Logger,
  everyMs: number,
  now: () => number = Date.now,
): (reason: string, fields?: Record<string, unknown>) => void {
  let lastAt = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (reason, fields = {}) => {
    const at = now();
    if (at - lastAt < everyMs) {
      suppressed++;
      return;
    }
    log.warn({ ...fields, reason, suppressedSinceLast: suppressed }, `webhook request refused: ${reason}`);
    lastAt = at;
    suppressed = 0;
  };
}
