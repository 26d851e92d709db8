/**
 * One clear log line per store outage, not one per failed operation. When the store's server
 * (PostgreSQL) cannot be reached, every part of the runtime fails at once and keeps retrying
 * with its own backoff: the poller (it stores nothing, so it confirms nothing to Telegram), the
 * dispatchers (no claim, so no new handler starts; completions wait in memory or are redone),
 * the outbox, the heartbeat. Logged one by one, that is a flood that hides the cause. So:
 *
 * - the outage's start is logged once (error level), with the store's location and the error;
 * - while it lasts, the warnings and errors of the runtime whose `err` is a store failure are
 *   counted, not written (anything else is still written);
 * - its end is logged once (info level), with its length and the operations that failed.
 *
 * Backends without a server (SQLite) have no reachability, and nothing here changes anything.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import type { ReachabilityChange, Store, StoreReachability } from "../store/index.js";
import type { Logger } from "./logger.js";

/** True when `err` is, or was caused by, a store failure. */
function isStoreFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof UnlostError && e.code === "STORE_FAILURE") return true;
  }
  return false;
}

/** The error of a pino call's first argument (`{ err }` or an Error itself), if any. */
function errorOf(args: readonly unknown[]): unknown {
  const first = args[0];
  if (first instanceof Error) return first;
  if (typeof first === "object" && first !== null) return (first as { err?: unknown }).err;
  return undefined;
}

/** Watches one runtime's store and keeps its log to one line per outage. */
export class StoreOutageLog {
  private reachability: StoreReachability | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Log calls held back during the current outage. */
  private suppressed = 0;

  /** Starts watching `store` (after it opened); `logger` gets the outage lines. */
  watch(store: Store, logger: Logger): void {
    this.stop();
    const reachability = store.reachability;
    if (reachability === undefined) return;
    this.reachability = reachability;
    this.unsubscribe = reachability.subscribe((change) => this.report(change, store.location, logger));
  }

  /** Stops watching (the store is closing). */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.reachability = undefined;
  }

  /**
   * `logger`, except that while the store is unreachable its `warn` and `error` calls about a
   * store failure are counted instead of written (also on its child loggers).
   */
  quiet(logger: Logger): Logger {
    const quietLevel = (level: "warn" | "error", target: Logger) =>
      (...args: unknown[]): void => {
        if (this.reachability?.reachable === false && isStoreFailure(errorOf(args))) {
          this.suppressed++;
          return;
        }
        (target[level] as (...a: unknown[]) => void)(...args);
      };
    const wrap = (target: Logger): Logger =>
      new Proxy(target, {
        get: (t, prop) => {
          if (prop === "warn" || prop === "error") return quietLevel(prop, t);
          if (prop === "child") return (...args: Parameters<Logger["child"]>) => wrap(t.child(...args) as unknown as Logger);
          // The logger's own methods run on the logger itself, not on the proxy.
          const value: unknown = Reflect.get(t, prop, t);
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(t) : value;
        },
      });
    return wrap(logger);
  }

  private report(change: ReachabilityChange, location: string, logger: Logger): void {
    if (!change.reachable) {
      this.suppressed = 0;
      logger.error(
        { store: location, err: change.error },
        "the store's server cannot be reached: polling stops confirming updates (Telegram keeps them), handlers pause, and every part retries with backoff; nothing is lost. Further store errors are not logged until it is back",
      );
      return;
    }
    logger.info(
      { store: location, downForMs: change.downForMs, failedOperations: change.failedOperations, logLinesHeldBack: this.suppressed },
      "the store's server is reachable again; resuming",
    );
    this.suppressed = 0;
  }
}
