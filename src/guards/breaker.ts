/**
 * Circuit breakers for the external services a bot's background work and handlers call (a
 * download service, an API): after too many failures the breaker *opens* and calls fail at
 * once with `CIRCUIT_OPEN` (saying when to try again) instead of piling up timeouts; after
 * `halfOpenAfterMs` one call is let through as a probe: its success closes the breaker, its
 * failure opens it again. Built on cockatiel's `circuitBreaker`; unlost adds validation with
 * clear messages, typed errors, logs on every state change, and status for operators.
 *
 * @module
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, SamplingBreaker, circuitBreaker, handleAll, type CircuitBreakerPolicy } from "cockatiel";
import { UnlostError } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";

/** When a breaker opens. */
export type BreakerTrigger =
  /** After this many failures in a row. */
  | number
  /** When more than `ratio` (0–1) of the calls in the last `windowMs` failed, once there were at least `minimumCalls`. */
  | { readonly ratio: number; readonly windowMs: number; readonly minimumCalls?: number };

/** Options of `runtime.breaker`. */
export interface BreakerOptions {
  /** When it opens. Default 5 failures in a row. */
  readonly opensAfter?: BreakerTrigger;
  /** How long it stays open before a probe call is let through, ms. Default 30 s. */
  readonly halfOpenAfterMs?: number;
}

/** A breaker's state, for status and metrics. */
export interface BreakerStatus {
  readonly name: string;
  /** `closed` (calls go through), `open` (they fail fast), `half-open` (a probe is under way). */
  readonly state: "closed" | "open" | "half-open";
  /** When it last opened (ms epoch), or null. */
  readonly openedAt: number | null;
  /** Times it opened since start. */
  readonly opened: number;
  /** The failure that last opened it. */
  readonly lastError: string | null;
}

/** A circuit breaker around calls to one external service. */
export interface Breaker {
  /** Its name (in logs and status). */
  readonly name: string;
  /**
   * Runs `fn` through the breaker. While open it throws `UnlostError("CIRCUIT_OPEN")` at once
   * (with `details.retryAfterMs`); otherwise `fn`'s result or error, which counts toward opening.
   * `signal` is passed on to `fn`.
   */
  execute<T>(fn: (signal: AbortSignal) => Promise<T> | T, signal?: AbortSignal): Promise<T>;
  /** Its state now. */
  status(): BreakerStatus;
}

const NAME = /^[\w.:-]{1,100}$/;

/** Makes a breaker (see the module comment). Throws `INVALID_ARGUMENT` on bad options. */
export function createBreaker(name: string, options: BreakerOptions, deps: { readonly logger: Logger; readonly clock: () => number; readonly onChange?: (status: BreakerStatus) => void }): Breaker {
  if (typeof name !== "string" || !NAME.test(name)) throw new UnlostError("INVALID_ARGUMENT", `a breaker's name must be 1–100 letters, digits or . : - _; got ${JSON.stringify(name)}`);
  const halfOpenAfter = options.halfOpenAfterMs ?? 30_000;
  if (!Number.isInteger(halfOpenAfter) || halfOpenAfter < 1) throw new UnlostError("INVALID_ARGUMENT", `breaker ${name}: halfOpenAfterMs must be a whole number of ms ≥ 1; got ${JSON.stringify(options.halfOpenAfterMs)}`);
  const policy: CircuitBreakerPolicy = circuitBreaker(handleAll, { halfOpenAfter, breaker: breakerFor(name, options.opensAfter ?? 5) });
  const { logger, clock } = deps;
  let openedAt: number | null = null;
  let opened = 0;
  let lastError: string | null = null;
  policy.onBreak((reason) => {
    openedAt = clock();
    opened++;
    lastError = "error" in reason ? describe(reason.error) : null;
    logger.warn({ breaker: name, error: lastError, halfOpenAfterMs: halfOpenAfter }, "a circuit breaker opened: calls to its service fail fast until a probe succeeds");
    changed();
  });
  policy.onHalfOpen(() => {
    logger.info({ breaker: name }, "a circuit breaker lets a probe call through");
    changed();
  });
  policy.onReset(() => {
    openedAt = null;
    logger.info({ breaker: name }, "a circuit breaker closed: its service answers again");
    changed();
  });
  // cockatiel calls its listeners before it changes `state`: report on the next turn.
  const changed = (): void => {
    if (deps.onChange !== undefined) queueMicrotask(() => deps.onChange?.(status()));
  };
  const status = (): BreakerStatus => ({ name, state: stateName(policy.state), openedAt, opened, lastError });
  return {
    name,
    async execute<T>(fn: (signal: AbortSignal) => Promise<T> | T, signal?: AbortSignal): Promise<T> {
      try {
        return await policy.execute(({ signal: inner }) => fn(inner), signal);
      } catch (error) {
        if (!(error instanceof BrokenCircuitError)) throw error;
        const retryAfterMs = Math.max(0, (openedAt ?? clock()) + halfOpenAfter - clock());
        throw new UnlostError("CIRCUIT_OPEN", `the circuit breaker ${name} is open (its service failed: ${lastError ?? "too often"}); not called. Try again in ${Math.ceil(retryAfterMs / 1000)} s`, { cause: error, details: { breaker: name, retryAfterMs } });
      }
    },
    status,
  };
}

function breakerFor(name: string, trigger: BreakerTrigger): ConsecutiveBreaker | SamplingBreaker {
  if (typeof trigger === "number") {
    if (!Number.isInteger(trigger) || trigger < 1) throw new UnlostError("INVALID_ARGUMENT", `breaker ${name}: opensAfter must be a number of failures in a row ≥ 1, or { ratio, windowMs }; got ${trigger}`);
    return new ConsecutiveBreaker(trigger);
  }
  const { ratio, windowMs, minimumCalls = 5 } = trigger;
  if (!(ratio > 0 && ratio <= 1) || !Number.isInteger(windowMs) || windowMs < 1000 || !Number.isInteger(minimumCalls) || minimumCalls < 1) {
    throw new UnlostError("INVALID_ARGUMENT", `breaker ${name}: opensAfter { ratio, windowMs, minimumCalls } needs 0 < ratio ≤ 1, windowMs ≥ 1000 and minimumCalls ≥ 1; got ${JSON.stringify(trigger)}`);
  }
  return new SamplingBreaker({ threshold: ratio, duration: windowMs, minimumRps: minimumCalls / (windowMs / 1000) });
}

function stateName(state: CircuitState): BreakerStatus["state"] {
  if (state === CircuitState.Closed) return "closed";
  if (state === CircuitState.HalfOpen) return "half-open";
  return "open";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
