/**
 * Guards around the work a bot does: circuit breakers for the services it calls.
 *
 * @module
 */
export { createBreaker, type Breaker, type BreakerOptions, type BreakerStatus, type BreakerTrigger } from "./breaker.js";
export { BreakerRegistry } from "./registry.js";
export { storedBreakers, type StoredBreaker } from "./stored.js";
