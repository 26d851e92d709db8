/**
 * The runtime's breakers by name: asking twice for the same name gives the same breaker (a
 * service's failures count wherever it is called from).
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import { createBreaker, type Breaker, type BreakerOptions, type BreakerStatus } from "./breaker.js";

/** Breakers of one runtime. */
export class BreakerRegistry {
  private readonly breakers = new Map<string, { breaker: Breaker; options: string }>();

  constructor(private readonly deps: { readonly logger: Logger; readonly clock: () => number }) {}

  /** The breaker named `name`, made on first use. Asking again with other options throws `INVALID_ARGUMENT`. */
  get(name: string, options: BreakerOptions = {}): Breaker {
    const key = JSON.stringify(options);
    const known = this.breakers.get(name);
    if (known !== undefined) {
      if (known.options !== key) throw new UnlostError("INVALID_ARGUMENT", `breaker ${JSON.stringify(name)} exists with other options (${known.options}); use one set of options per service`);
      return known.breaker;
    }
    const breaker = createBreaker(name, options, this.deps);
    this.breakers.set(name, { breaker, options: key });
    return breaker;
  }

  /** Every breaker's state. */
  status(): BreakerStatus[] {
    return [...this.breakers.values()].map((b) => b.breaker.status());
  }
}
