/**
 * Tasks: durable background work started by handlers (or any code), run beside message
 * handling within global and per-user limits (see runner.ts, service.ts).
 *
 * @module
 */
export { TaskService, taskInfo, withTaskTracking, type TaskServiceSettings, type TaskServiceStart, type HandlerTaskCall } from "./service.js";
export { TaskRunner, type TaskHandler, type TaskRunnerOptions } from "./runner.js";
export { TaskTempDirs } from "./temp-dirs.js";
export { taskApiFactory } from "./task-api.js";
export { runInWorker, type RunInWorkerOptions } from "./worker.js";
export { resolveTaskOptions, retryDelay, type ResolvedTaskOptions } from "./options.js";
export type { TaskAddOptions, TaskDeadLetters, TaskFunction, TaskHandlerOptions, TaskInfo, TaskRun, Tasks, TaskStats } from "./types.js";
