/**
 * One run of the demo's scenario against one bot: an emulator of its own, the bot as a child
 * process, the users, and the script of kills and faults. `unlost demo` runs it with the unlost
 * bot, and with `--compare` at the same time with a stock grammY bot on a second emulator, the
 * same seed and the same script.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { UnlostError } from "../errors/index.js";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../emulator/index.js";
import { BotChild, type BotState } from "./bot-child.js";
import { faultsInjected, floodsInjected, injectFloodStorm, injectNetworkFaults } from "./faults.js";
import { Population } from "./population.js";
import { ReplyTracker, verify, type DownWindow, type VerifiedCounts } from "./tally.js";
import { planTimeline, type TimelineStep } from "./timeline.js";

/** Which bot a run uses. */
export type DemoSide = "unlost" | "grammy";

/** The demo bot's token: fixed, so that both runs of `--compare` look the same. */
export const DEMO_TOKEN = "1000001:DEMO-unlost-demo-token";

/** Options of a {@link Scenario}. */
export interface ScenarioOptions {
  /** Which bot runs. */
  readonly side: DemoSide;
  /** How many simulated users. */
  readonly users: number;
  /** How long users write, ms. */
  readonly durationMs: number;
  /** Seed of the users' actions and of the fault draws. */
  readonly seed: number;
  /** How many times the bot is killed with SIGKILL. */
  readonly kills: number;
  /** Port of this run's emulator (0: any free one). */
  readonly port: number;
  /** A folder for the store and the bot's log. */
  readonly dataDir: string;
  /** Longest wait, after the users stopped, for the bot to answer everything, ms. */
  readonly drainTimeoutMs: number;
  /** Told about each step of the script, with ms since the users started. */
  readonly onEvent: (side: DemoSide, elapsedMs: number, text: string) => void;
}

/** The state of a run, for the progress line. */
export interface LiveStatus {
  /** Which bot. */
  readonly side: DemoSide;
  /** The bot's state, or `done` once the run has verified its result. */
  readonly state: BotState | "done";
  /** Updates the users created so far. */
  readonly sent: number;
  /** Of those, answered at least once. */
  readonly handled: number;
  /** Replies delivered, copies included. */
  readonly replies: number;
  /** Sent and not answered yet (at Telegram, in the bot's inbox, or in its outbox). */
  readonly backlog: number;
  /** Of the backlog, not yet fetched from Telegram. */
  readonly atTelegram: number;
  /** Faults the emulator injected so far. */
  readonly faults: number;
  /** Kills so far. */
  readonly kills: number;
}

/** What a run verified, plus how it went. */
export interface ScenarioResult extends VerifiedCounts {
  /** Which bot. */
  readonly side: DemoSide;
  /** Kills done. */
  readonly kills: number;
  /** Times the bot died on its own (restarted like a process manager would). */
  readonly crashes: number;
  /** Network faults and 429s the emulator injected. */
  readonly faults_injected: number;
  /** Of those, 429 answers (the storm). */
  readonly responses_429: number;
  /** True when every update was answered before the drain's time limit. */
  readonly drained: boolean;
  /** How long the drain took, ms. */
  readonly drain_ms: number;
  /** The bot's log file. */
  readonly log_path: string;
}

const SCRIPTS: Record<DemoSide, string> = {
  unlost: fileURLToPath(new URL("./unlost-bot.js", import.meta.url)),
  grammy: fileURLToPath(new URL("./grammy-bot.js", import.meta.url)),
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** One run of the scenario. Create, then `prepare()`, then `run()`. */
export class Scenario {
  private readonly emulator: Emulator;
  private readonly sim: SimBot;
  private readonly population: Population;
  private readonly tracker = new ReplyTracker();
  private readonly down: Array<{ from: number; to: number | undefined }> = [];
  private readonly killTimes: number[] = [];
  private readonly logPath: string;
  private server: EmulatorServer | undefined;
  private bot: BotChild | undefined;
  private t0 = 0;
  private finished = false;

  constructor(private readonly options: ScenarioOptions) {
    this.emulator = createEmulator({ seed: options.seed }); // Telegram's flood limits on: the real thing
    this.sim = this.emulator.createBot({ token: DEMO_TOKEN, username: "unlost_demo_bot", firstName: "unlost demo" });
    this.population = new Population({ emulator: this.emulator, bot: this.sim, users: options.users, seed: options.seed });
    this.logPath = join(options.dataDir, `${options.side}-bot.log`);
  }

  /** How many groups the bot is in. */
  get groups(): number {
    return this.population.groups.length;
  }

  /** The bot's pid, while it runs. */
  get pid(): number | undefined {
    return this.bot?.pid;
  }

  /** The emulator's URL, once prepared. */
  get url(): string | undefined {
    return this.server?.url;
  }

  /** Starts the emulator and the bot, and waits until the bot polls. */
  async prepare(): Promise<void> {
    const { options } = this;
    try {
      this.server = await startEmulatorServer(this.emulator, { port: options.port });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw new UnlostError("INVALID_ARGUMENT", `port ${options.port} is in use; pick another with --port (0 picks a free one)`, { cause: error });
      }
      throw error;
    }
    this.bot = new BotChild({
      script: SCRIPTS[options.side],
      env: { API_ROOT: this.server.url, BOT_TOKEN: this.sim.token, DB_PATH: join(options.dataDir, `${options.side}.sqlite`) },
      logPath: this.logPath,
      onState: (state) => this.onState(state),
    });
    this.bot.start();
    if (!(await this.bot.waitUntilUp(30_000))) {
      throw new UnlostError("EMULATOR", `the ${options.side} demo bot did not start within 30 s; see its log: ${this.logPath}`);
    }
  }

  /** Runs the users and the script, drains, stops the bot, and verifies. */
  async run(): Promise<ScenarioResult> {
    const { options, emulator, population } = this;
    const bot = this.botOrThrow();
    const now = (): number => emulator.clock.now();
    this.t0 = now();
    population.start(now);
    const script = this.play(planTimeline(options.durationMs, options.kills));
    await sleep(this.t0 + options.durationMs - now());
    population.stop();
    await script;
    // Whatever the script did, the bot must be running to catch up.
    if (bot.state === "down") bot.start();
    const drainStart = now();
    const drained = await this.drain(drainStart);
    const drainMs = now() - drainStart;
    await bot.stop();
    await this.server?.close();
    this.tracker.sync(this.sim.record);
    this.finished = true;
    const counts = verify(population.sent, this.tracker, this.windows(), this.killTimes);
    return {
      side: options.side, ...counts, kills: this.killTimes.length, crashes: bot.crashes,
      faults_injected: faultsInjected(this.emulator), responses_429: floodsInjected(this.emulator), drained, drain_ms: drainMs, log_path: this.logPath,
    };
  }

  /** Stops everything at once (Ctrl-C, or an error elsewhere). */
  async abort(): Promise<void> {
    this.population.stop();
    await this.bot?.kill9();
    await this.server?.close().catch(() => undefined); // closed already when the run had ended
  }

  /** The state of the run, for the progress line. */
  status(): LiveStatus {
    this.tracker.sync(this.sim.record);
    const sent = this.population.sent.length;
    return {
      side: this.options.side, state: this.finished ? "done" : (this.bot?.state ?? "down"), sent, handled: this.tracker.answered,
      replies: this.tracker.tagged, backlog: sent - this.tracker.answered, atTelegram: this.sim.updates.count(),
      faults: faultsInjected(this.emulator), kills: this.killTimes.length,
    };
  }

  private async play(steps: readonly TimelineStep[]): Promise<void> {
    for (const step of steps) {
      await sleep(this.t0 + step.at - this.emulator.clock.now());
      await this.perform(step);
    }
  }

  private async perform(step: TimelineStep): Promise<void> {
    const bot = this.botOrThrow();
    const { emulator } = this;
    switch (step.kind) {
      case "kill": {
        // Kill a bot at work, not one still loading.
        if (bot.state === "starting") await bot.waitUntilUp(10_000);
        const pid = bot.pid;
        await bot.kill9();
        this.killTimes.push(emulator.clock.now());
        this.event(`kill -9 #${step.index} (pid ${pid ?? "?"}): the bot is down; users keep writing`);
        return;
      }
      case "restart": {
        const waiting = this.sim.updates.count();
        bot.start();
        this.event(`restarting the bot (${waiting} updates waiting at Telegram)`);
        const since = emulator.clock.now();
        void bot.waitUntilUp(30_000).then((up) => up && this.event(`the bot is up again after ${((emulator.clock.now() - since) / 1000).toFixed(1)} s of start-up`));
        return;
      }
      case "network-faults":
        // The trouble meets the bot as it catches up, not while it is still loading.
        if (bot.state === "starting") await bot.waitUntilUp(10_000);
        this.event(injectNetworkFaults(emulator, step.durationMs));
        return;
      case "flood":
        if (bot.state === "starting") await bot.waitUntilUp(10_000);
        this.event(injectFloodStorm(emulator, step.durationMs, step.retryAfter));
        return;
    }
  }

  /**
   * Waits until every update was answered. The unlost bot gets the whole time limit (it keeps
   * every unanswered update and will answer it). The stock bot keeps nothing: it is done once
   * Telegram has nothing left for it and it has been quiet for 3 s.
   */
  private async drain(start: number): Promise<boolean> {
    const now = (): number => this.emulator.clock.now();
    let lastSize = this.sim.record.size;
    let lastChange = now();
    while (now() - start < this.options.drainTimeoutMs) {
      this.tracker.sync(this.sim.record);
      if (this.tracker.answered >= this.population.sent.length) return true;
      if (this.sim.record.size !== lastSize) {
        lastSize = this.sim.record.size;
        lastChange = now();
      }
      const quiet = this.sim.updates.count() === 0 && now() - lastChange > 3_000 && this.bot?.state === "up";
      if (this.options.side === "grammy" && quiet) return false;
      await sleep(100);
    }
    return false;
  }

  private onState(state: BotState): void {
    const t = this.emulator.clock.now();
    const open = this.down.at(-1);
    if (state === "up") {
      if (open !== undefined && open.to === undefined) open.to = t;
    } else if (open === undefined || open.to !== undefined) {
      this.down.push({ from: t, to: undefined });
    }
  }

  private windows(): DownWindow[] {
    return this.down.map((w) => ({ from: w.from, to: w.to }));
  }

  private event(text: string): void {
    this.options.onEvent(this.options.side, this.emulator.clock.now() - this.t0, text);
  }

  private botOrThrow(): BotChild {
    if (this.bot === undefined) throw new UnlostError("STOPPED", "the scenario was not prepared");
    return this.bot;
  }
}
