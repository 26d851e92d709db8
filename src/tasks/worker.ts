/**
 * CPU-bound work off the event loop: `runInWorker(module, input, { signal })` runs the default
 * export of `module` in a `worker_threads` worker with `input`, and resolves with what it
 * returns. A task (or a handler) awaits it while the main thread goes on answering users; its
 * `signal` terminates the worker at once (a busy loop never checks a signal, so cooperative
 * cancellation would not stop it).
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { isAbsolute } from "node:path";
import { Worker, type ResourceLimits } from "node:worker_threads";
import { UnlostError } from "../errors/index.js";

/** Options of {@link runInWorker}. */
export interface RunInWorkerOptions {
  /** Terminates the worker when aborted; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Memory limits of the worker (node:worker_threads' `resourceLimits`). */
  readonly resourceLimits?: ResourceLimits;
}

/**
 * The worker's script: imports the module, calls its default export with the input (awaited),
 * and posts back the result or the error's name, message and stack.
 */
const BOOTSTRAP = `
const { parentPort, workerData } = require("node:worker_threads");
import(workerData.module).then(async (m) => {
  if (typeof m.default !== "function") throw new TypeError("the module " + workerData.module + " has no default export function");
  const result = await m.default(workerData.input);
  parentPort.postMessage({ ok: true, result });
}).catch((error) => {
  parentPort.postMessage({ ok: false, name: error && error.name, message: error && error.message !== undefined ? error.message : String(error), stack: error && error.stack });
});
`;

/**
 * Runs `module`'s default export in a worker thread with `input` (structured-cloned: plain data,
 * buffers, no functions) and resolves with its (cloned) result.
 *
 * @param module an absolute path or a `file:` URL (e.g. `new URL("./encode.js", import.meta.url)`)
 * @throws UnlostError `INVALID_ARGUMENT` at once for a relative path; the promise rejects with the
 * worker's error (same name and message) or, when aborted, the signal's reason
 *
 * @example
 * ```ts
 * runtime.tasks.handle("thumbnail", async ({ payload, signal, tmpDir }) =>
 *   runInWorker(new URL("./thumbnail.js", import.meta.url), { ...payload, tmpDir }, { signal }));
 * ```
 */
export function runInWorker<T = unknown>(module: string | URL, input: unknown, options: RunInWorkerOptions = {}): Promise<T> {
  const href = moduleHref(module);
  const { signal } = options;
  if (signal?.aborted === true) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { module: href, input }, ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }) });
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const onAbort = (): void => {
      finish(() => reject(signal?.reason));
      void worker.terminate();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    worker.once("message", (message: { ok: true; result: T } | { ok: false; name?: string; message: string; stack?: string }) => {
      if (message.ok) finish(() => resolve(message.result));
      else {
        const error = new Error(message.message);
        if (message.name !== undefined) error.name = message.name;
        if (message.stack !== undefined) error.stack = message.stack;
        finish(() => reject(error));
      }
      void worker.terminate();
    });
    worker.once("error", (error) => finish(() => reject(error)));
    worker.once("exit", (code) => finish(() => reject(new UnlostError("INVALID_ARGUMENT", `the worker running ${href} exited (code ${code}) without a result`))));
  });
}

function moduleHref(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (typeof module === "string" && module.startsWith("file:")) return module;
  if (typeof module === "string" && isAbsolute(module)) return pathToFileURL(module).href;
  throw new UnlostError("INVALID_ARGUMENT", `runInWorker needs an absolute path or a file: URL (e.g. new URL("./work.js", import.meta.url)); got ${JSON.stringify(module)}`);
}
