/**
 * A bench's child process (an emulator server, a bot under test) driven over stdin/stdout:
 * it prints one JSON object per line (`{"event": …}`); the bench waits for events by name and
 * sends one-line commands. Shared by bench/inbound.mjs and bench/outbound.mjs.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * Starts `node <argv>` and waits for its `readyEvent`.
 *
 * @param {string} name for messages
 * @param {string[]} argv node's arguments (flags, script, script arguments)
 * @param {string} readyEvent the event that says the process is ready; its object is `info`
 * @param {{ log: (line: string) => void, problems: string[], env?: Record<string, string>, readyTimeoutMs?: number, keepAll?: boolean }} options
 *   `log` gets the process's non-JSON lines; `problems` collects its `error` events and a
 *   non-zero exit; `env` adds to the environment; `keepAll` keeps every event in `all`.
 */
export async function startProcess(name, argv, readyEvent, options) {
  const { log, problems, env = {}, readyTimeoutMs = 60_000, keepAll = false } = options;
  const child = spawn(process.execPath, argv, { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env } });
  child.stdin.on("error", () => undefined); // a process that already exited
  const waiting = [];
  const queued = [];
  const all = [];
  let exitInfo;
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      for (const w of waiting.splice(0)) w.reject(new Error(`${name} exited (code ${code}, signal ${signal}) before "${w.event}"`));
      resolve(exitInfo);
    }),
  );
  createInterface({ input: child.stdout }).on("line", (line) => {
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      log(`${name}: ${line}`);
      return;
    }
    if (keepAll) all.push(event);
    if (event.event === "error") {
      problems.push(`${name}: ${event.message}`);
      for (const w of waiting.splice(0)) w.reject(new Error(`${name}: ${event.message}`));
      return;
    }
    const i = waiting.findIndex((w) => w.event === event.event);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(event);
    else queued.push(event);
  });
  const next = (event, timeoutMs = 60_000) => {
    const i = queued.findIndex((e) => e.event === event);
    if (i >= 0) return Promise.resolve(queued.splice(i, 1)[0]);
    if (exitInfo !== undefined) return Promise.reject(new Error(`${name} exited (code ${exitInfo.code}) before "${event}"`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no "${event}" within ${timeoutMs} ms`)), timeoutMs);
      waiting.push({
        event,
        resolve: (e) => { clearTimeout(timer); resolve(e); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  };
  let info;
  try {
    info = await next(readyEvent, readyTimeoutMs);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    info,
    all,
    next,
    /** Sends `line` and resolves with the next `event`. */
    command: (line, event, timeoutMs) => {
      const answer = next(event, timeoutMs);
      child.stdin.write(`${line}\n`);
      return answer;
    },
    /** Asks the process to exit (`exit`), kills it after 15 s, and records a non-zero exit. */
    stop: async () => {
      if (exitInfo === undefined) child.stdin.end("exit\n");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const { code, signal } = await exited;
      clearTimeout(timer);
      if (code !== 0) problems.push(`${name} exited with code ${code} (signal ${signal})`);
    },
  };
}
