/**
 * A bot running in a real child process, for end-to-end tests that kill it with `kill -9`.
 *
 * The child is a plain `.mjs` script run with this Node (`process.execPath`). It talks to the
 * test through stdout, one line per event (fixtures print JSON lines); the test waits on those
 * lines instead of sleeping. Every process spawned here is tracked, so an `afterEach` can call
 * {@link killAllBotProcesses} and never leak a child, whatever the test did.
 */
import { spawn, type ChildProcess } from "node:child_process";

/** Options of {@link spawnBotProcess}. */
export interface SpawnBotOptions {
  /** Extra environment for the child (merged over this process's environment). */
  env?: Record<string, string>;
  /** Name used in error messages; default the script's file name. */
  name?: string;
}

/** How a child ended. */
export interface BotExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** What a line matcher accepts: an exact line, a pattern, or a predicate. */
export type LineMatcher = string | RegExp | ((line: string) => boolean);

/** A running (or ended) bot child process. */
export interface BotProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every complete stdout line so far, in order. */
  readonly lines: readonly string[];
  /** Everything written to stderr so far (for diagnostics). */
  stderr(): string;
  /** Resolves when the process has ended. */
  readonly exited: Promise<BotExit>;
  /** True once the process has ended. */
  hasExited(): boolean;
  /**
   * Waits for the `count`-th stdout line (counting from the first line ever printed) that
   * matches, and returns it. Rejects on timeout or when the process ends first.
   */
  waitForLine(matcher: LineMatcher, options?: { count?: number; timeoutMs?: number }): Promise<string>;
  /** Stdout lines parsed as JSON objects (lines that are not JSON objects are skipped). */
  events(): Array<Record<string, unknown>>;
  /**
   * Waits until `count` JSON events satisfy `predicate` and returns the `count`-th.
   */
  waitForEvent(predicate: (event: Record<string, unknown>) => boolean, options?: { count?: number; timeoutMs?: number }): Promise<Record<string, unknown>>;
  /** `kill -9`: sends SIGKILL and resolves once the process is gone. */
  kill9(): Promise<BotExit>;
}

const live = new Set<BotProcess>();

/** Starts `node <script>` with the given environment. */
export function spawnBotProcess(script: string, options: SpawnBotOptions = {}): BotProcess {
  const name = options.name ?? script.split(/[\\/]/).pop() ?? script;
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const lines: string[] = [];
  let partial = "";
  let errText = "";
  let ended: BotExit | undefined;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };

  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    partial += chunk;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const p of parts) lines.push(p.replace(/\r$/, ""));
    if (parts.length > 0) notify();
  });
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    errText += chunk;
    if (errText.length > 64_000) errText = errText.slice(-32_000);
  });
  const exited = new Promise<BotExit>((resolve) => {
    child.once("exit", (code, signal) => {
      ended = { code, signal };
      live.delete(proc);
      resolve(ended);
      notify();
    });
  });

  const matches = (matcher: LineMatcher, line: string): boolean =>
    typeof matcher === "string" ? line === matcher : matcher instanceof RegExp ? matcher.test(line) : matcher(line);

  const waitForLine: BotProcess["waitForLine"] = (matcher, opts = {}) => {
    const count = opts.count ?? 1;
    const timeoutMs = opts.timeoutMs ?? 15_000;
    return new Promise<string>((resolve, reject) => {
      const check = (): boolean => {
        let seen = 0;
        for (const line of lines) {
          if (matches(matcher, line) && ++seen === count) {
            done();
            resolve(line);
            return true;
          }
        }
        if (ended !== undefined) {
          done();
          reject(new Error(`${name} exited (${ended.signal ?? `code ${ended.code}`}) after ${seen} of ${count} matching lines; stderr:\n${errText}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${name}: timed out after ${timeoutMs} ms waiting for ${count} lines matching ${String(matcher)}; last lines:\n${lines.slice(-5).join("\n")}\nstderr:\n${errText}`));
      }, timeoutMs);
      const listener = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      listeners.add(listener);
      check();
    });
  };

  const parse = (line: string): Record<string, unknown> | undefined => {
    if (!line.startsWith("{")) return undefined;
    try {
      const value: unknown = JSON.parse(line);
      return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };

  const proc: BotProcess = {
    name,
    child,
    pid: child.pid,
    lines,
    stderr: () => errText,
    exited,
    hasExited: () => ended !== undefined,
    waitForLine,
    events: () => lines.map(parse).filter((e): e is Record<string, unknown> => e !== undefined),
    waitForEvent: async (predicate, opts) => {
      const line = await waitForLine((l) => {
        const e = parse(l);
        return e !== undefined && predicate(e);
      }, opts);
      return parse(line) as Record<string, unknown>;
    },
    kill9: () => {
      if (ended === undefined) child.kill("SIGKILL");
      return exited;
    },
  };
  live.add(proc);
  return proc;
}

/** `kill -9` of every bot process still running; for `afterEach`. */
export async function killAllBotProcesses(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill9()));
}
