/**
 * `unlost demo` (what `npm start` runs): an example bot run by unlost as a child process on
 * SQLite, simulated users writing to it, kills and faults, and a summary verified against the
 * emulator's record. `--compare` runs a stock grammY bot through the same scenario beside it.
 * The parts live in `src/demo/`; this file wires them to the command line.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEMO_HELP, parseDemoOptions, type DemoOptions } from "../demo/options.js";
import { createProgress } from "../demo/progress.js";
import { formatEvent, formatStatus, formatSummary, summaryJson, type RunFacts } from "../demo/report.js";
import { Scenario, type ScenarioResult } from "../demo/scenario.js";

export { DEMO_HELP } from "../demo/options.js";
export { DEMO_TOKEN } from "../demo/scenario.js";

/** Runs the demo; resolves with the exit code (0 only if the unlost bot lost nothing). */
export async function runDemoCommand(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const options = parseDemoOptions(argv);
  if (options.help) {
    out(DEMO_HELP);
    return 0;
  }
  const dataDir = mkdtempSync(join(tmpdir(), "unlost-demo-"));
  const durationMs = options.durationSeconds * 1000;
  const progress = createProgress(out, process.stdout.isTTY ? process.stdout : undefined, Math.max(2_000, durationMs / 15));
  const scenario = (side: "unlost" | "grammy", port: number): Scenario =>
    new Scenario({
      side, port, dataDir, durationMs, users: options.users, seed: options.seed, kills: options.kills,
      // Enough for a bot that keeps everything to catch up, short enough for a one-minute demo.
      drainTimeoutMs: Math.min(30_000, Math.max(8_000, durationMs * 0.4)),
      onEvent: (s, elapsed, text) => progress.line(formatEvent(s, elapsed, text, options.compare)),
    });
  const runs = [scenario("unlost", options.port), ...(options.compare ? [scenario("grammy", 0)] : [])];
  // Ctrl-C stops the bots instead of leaving them running.
  let onSigint: (() => void) | undefined;
  const interrupted = new Promise<"interrupted">((resolve) => process.once("SIGINT", (onSigint = () => resolve("interrupted"))));
  let ticker: NodeJS.Timeout | undefined;
  try {
    await Promise.all(runs.map((r) => r.prepare()));
    intro(out, options, runs);
    const t0 = Date.now();
    ticker = setInterval(() => progress.status(formatStatus(Date.now() - t0, runs.map((r) => r.status()))), 250);
    const outcome = await Promise.race([Promise.all(runs.map((r) => r.run())), interrupted]);
    clearInterval(ticker);
    progress.done();
    if (outcome === "interrupted") {
      out("interrupted: stopping the bots");
      await Promise.all(runs.map((r) => r.abort()));
      return 130;
    }
    return report(out, options, runs, outcome, dataDir);
  } catch (error) {
    clearInterval(ticker);
    progress.done();
    await Promise.all(runs.map((r) => r.abort().catch(() => undefined)));
    throw error;
  } finally {
    if (onSigint !== undefined) process.off("SIGINT", onSigint);
  }
}

function intro(out: (line: string) => void, options: DemoOptions, runs: readonly Scenario[]): void {
  const [main, stock] = runs;
  out(`unlost demo: ${options.users} simulated users (${plural(main?.groups ?? 0, "group")}) write to an example bot for ${options.durationSeconds} s.`);
  out(`The bot runs with unlost on SQLite in its own process (pid ${main?.pid ?? "?"}); the Bot API emulator is on ${main?.url ?? "?"}.`);
  if (stock !== undefined) out(`Beside it, the same scenario with a stock grammY bot.start() bot (pid ${stock.pid ?? "?"}) on ${stock.url ?? "?"}.`);
  out(`Meanwhile: ${options.kills} × kill -9 (the bot stays down while users write), network faults and a 429 storm. Seed ${options.seed}.`);
  out("");
}

function report(out: (line: string) => void, options: DemoOptions, runs: readonly Scenario[], results: readonly ScenarioResult[], dataDir: string): number {
  const unlost = results.find((r) => r.side === "unlost");
  if (unlost === undefined) return 1;
  const facts: RunFacts = { seed: options.seed, users: options.users, groups: runs[0]?.groups ?? 0, durationSeconds: options.durationSeconds, kills: options.kills };
  for (const line of formatSummary(facts, results)) out(line);
  if (unlost.lost === 0) rmSync(dataDir, { recursive: true, force: true });
  else out(`The stores and bot logs are kept in ${dataDir}.`);
  if (options.json) out(summaryJson(facts, unlost, results.find((r) => r.side === "grammy")));
  return unlost.lost === 0 ? 0 : 1;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
