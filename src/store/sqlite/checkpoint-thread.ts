/**
 * WAL checkpoints in a worker thread. A checkpoint copies the pages committed since the last
 * one from the WAL into the database file: file writes and an fsync that would otherwise run
 * on the event loop of the bot's handlers (about 3 % of a busy bot's time). A second
 * connection in a worker does it instead; `PASSIVE` checkpoints never block the writer, and
 * SQLite coordinates the two connections through the WAL index, as it does across processes.
 *
 * @module
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * The worker's code, plain JavaScript run as a script (self-contained, so that it runs the same
 * from `dist/` and from the TypeScript sources under test). `workerData`: `{ module, path,
 * intervalMs }`; the message `"stop"` closes its connection and ends it.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.module);
const db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
const timer = setInterval(() => {
  try { db.pragma("wal_checkpoint(PASSIVE)"); } catch { /* busy or closing: the next interval retries */ }
}, workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m !== "stop") return;
  clearInterval(timer);
  try { db.close(); } catch { /* closing anyway */ }
  parentPort.close();
});
`;

/** A running checkpoint thread. */
export interface CheckpointThread {
  /** Stops checkpointing and closes the thread's connection. */
  stop(): void;
}

/**
 * Starts checkpointing the database at `path` every `intervalMs` in a worker thread. Returns
 * undefined when the worker cannot start (the caller then checkpoints on its own thread).
 */
export function startCheckpointThread(path: string, intervalMs: number, onError: (error: Error) => void): CheckpointThread | undefined {
  let worker: Worker;
  try {
    const module = createRequire(import.meta.url).resolve("better-sqlite3");
    worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, path, intervalMs } });
  } catch {
    return undefined;
  }
  worker.unref();
  worker.on("error", onError);
  return {
    stop: () => {
      worker.postMessage("stop");
    },
  };
}
