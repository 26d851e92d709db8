/**
 * Schedules: durable cron and interval runs beside message handling (see scheduler.ts).
 *
 * @module
 */
export { Scheduler, storedSchedules, type SchedulerOptions } from "./scheduler.js";
export { ScheduleRegistry } from "./registry.js";
export { parseSpec, parseInterval, type ScheduleSpec, type ScheduleTiming } from "./spec.js";
export type { MissedRunPolicy, ScheduleOptions, ScheduleRun, ScheduleFunction, ScheduleStatus, ScheduleDefinition } from "./types.js";
