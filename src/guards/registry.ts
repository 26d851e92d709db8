/**
 * The runtime's breakers by name: asking twice for the same name gives the same breaker (a
 * service's failures count wherever it is called from).
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import type { StateStore } from "../store/index.js";
import { createBreaker, type Breaker, type BreakerOptions, type BreakerStatus } from "./breaker.js";
import { recordBreaker } from "./stored.js";

/** Breakers of one runtime. */
export class BreakerRegistry {
  private readonly breakers = new Map<string, { breaker: Breaker; options: string }>();
  private recorder: { readonly state: StateStore; readonly instance: string } | undefined;

  constructor(private readonly deps: { readonly logger: Logger; readonly clock: () => number }) {}

  /** The breaker named `name`, made on first use. Asking again with other options throws `INVALID_ARGUMENT`. */
  get(name: string, options: BreakerOptions = {}): Breaker {
    const key = JSON.stringify(options);
    const known = this.breakers.get(name);
    if (known !== undefined) {
      if (known.options !== key) throw new UnlostError("INVALID_ARGUMENT", `breaker ${JSON.stringify(name)} exists with other options (${known.options}); use one set of options per service`);
      return known.breaker;
    }
    const breaker = createBreaker(name, options, { ...this.deps, onChange: (status) => this.record(status) });
    this.breakers.set(name, { breaker, options: key });
    return breaker;
  }

  /**
   * Records every breaker's state changes in `state` from now on (and the current states now),
   * for `unlost status`. Called once the store is open.
   */
  recordTo(state: StateStore, instance: string): void {
    this.recorder = { state, instance };
    for (const { breaker } of this.breakers.values()) this.record(breaker.status());
  }

  private record(status: BreakerStatus): void {
    const recorder = this.recorder;
    if (recorder === undefined) return;
    recordBreaker(recorder.state, status, recorder.instance, this.deps.clock()).catch((error: unknown) =>
      this.deps.logger.warn({ err: error, breaker: status.name }, "recording a circuit breaker's state in the store failed; unlost status may show an older one"));
  }

  /** Every breaker's state. */
  status(): BreakerStatus[] {
    return [...this.breakers.values()].map((b) => b.breaker.status());
  }
}
