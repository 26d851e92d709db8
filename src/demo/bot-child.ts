/**
 * A demo bot running as a real child process: started with this Node, killed with SIGKILL,
 * restarted. Like a process manager, it restarts a bot that died on its own (counted as a
 * crash). Everything the bot prints goes to a log file; the demo only reads the
 * `{"event":"started"}` line to know when the bot is up.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";

/** Up (polling), starting (spawned, not yet polling) or down (killed, or stopped). */
export type BotState = "up" | "starting" | "down";

/** Options of a {@link BotChild}. */
export interface BotChildOptions {
  /** The script node runs. */
  readonly script: string;
  /** Environment added to this process's. */
  readonly env: Readonly<Record<string, string>>;
  /** Where the bot's stdout and stderr go. */
  readonly logPath: string;
  /** Told whenever the state changes. */
  readonly onState?: (state: BotState) => void;
}

/** Every child still running, killed when the demo exits whatever happened. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A supervised bot process. */
export class BotChild {
  private child: ChildProcess | undefined;
  private current: BotState = "down";
  private intentional = false;
  private readonly log: WriteStream;
  private upWaiters: Array<() => void> = [];
  private restartTimer: NodeJS.Timeout | undefined;
  /** Times the bot died without being killed by the demo (and was restarted). */
  crashes = 0;

  constructor(private readonly options: BotChildOptions) {
    this.log = createWriteStream(options.logPath, { flags: "a" });
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once("exit", () => {
        for (const c of running) c.kill("SIGKILL");
      });
    }
  }

  /** The current state. */
  get state(): BotState {
    return this.current;
  }

  /** The pid of the running process, if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process (state `starting`, then `up` once it printed its started line). */
  start(): void {
    clearTimeout(this.restartTimer);
    if (this.child !== undefined) return;
    this.intentional = false;
    const child = spawn(process.execPath, [this.options.script], {
      env: { ...process.env, LOG_LEVEL: "warn", DEMO_PARENT_PID: String(process.pid), ...this.options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    running.add(child);
    this.setState("starting");
    let partial = "";
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      this.log.write(chunk);
      partial += chunk;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      if (lines.some((l) => l.startsWith('{"event":"started"'))) this.setState("up");
    });
    child.stderr?.on("data", (chunk: Buffer) => this.log.write(chunk));
    child.once("exit", (code, signal) => {
      running.delete(child);
      this.log.write(`\n[demo] bot process ${child.pid ?? "?"} exited (${signal ?? `code ${code}`})\n`);
      if (this.child === child) this.child = undefined;
      this.setState("down");
      if (!this.intentional) {
        // Died on its own: restart it, as a process manager (systemd, Docker, pm2) would.
        this.crashes++;
        this.restartTimer = setTimeout(() => this.start(), 500);
      }
    });
  }

  /** Resolves true once the bot is up, false after `timeoutMs`. */
  waitUntilUp(timeoutMs: number): Promise<boolean> {
    if (this.current === "up") return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.upWaiters = this.upWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.upWaiters.push(done);
    });
  }

  /** `kill -9`: SIGKILL, resolved once the process is gone. */
  kill9(): Promise<void> {
    return this.end("SIGKILL", 0);
  }

  /** A graceful stop: SIGTERM, then SIGKILL after `graceMs`. Also closes the log. */
  async stop(graceMs = 5_000): Promise<void> {
    await this.end("SIGTERM", graceMs);
    await new Promise<void>((resolve) => this.log.end(resolve));
  }

  private async end(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    clearTimeout(this.restartTimer);
    this.intentional = true;
    const child = this.child;
    if (child === undefined) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    if (signal !== "SIGKILL") {
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      return;
    }
    await exited;
  }

  private setState(state: BotState): void {
    if (state === this.current) return;
    this.current = state;
    this.options.onState?.(state);
    if (state === "up") {
      const waiters = this.upWaiters;
      this.upWaiters = [];
      for (const w of waiters) w();
    }
  }
}
