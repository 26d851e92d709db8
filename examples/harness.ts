/**
 * Runs one example end to end: an in-process Bot API emulator with simulated users, the
 * example's bot under `unlost run` as a real process, the conversation printed as it happens,
 * then a graceful stop (SIGTERM). Used by `npm run example:<name>` and by the examples' test.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createEmulator, startEmulatorServer, type SimUser } from "../src/emulator/index.js";
import { SCENARIOS, type ExpectedReply, type Stage } from "./scenarios.js";

/** The repository's root (examples/..). */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The token of the example bots on the emulator (made up; the emulator accepts it). */
const TOKEN = "7000001:example-bot-token";

/** Options of {@link runExample}. */
export interface RunExampleOptions {
  /** Prints one line. */
  readonly log: (line: string) => void;
  /** How long to wait for the expected replies, ms. Default 30 000. */
  readonly timeoutMs?: number;
}

/** How an example run ended. */
export interface ExampleResult {
  /** Exit code of `unlost run` after SIGTERM (0 = clean stop). */
  readonly exitCode: number | null;
  /** Expected replies that never came. */
  readonly missing: readonly ExpectedReply[];
  /** Every reply delivered, as `{ user, text }`, in delivery order. */
  readonly replies: ReadonlyArray<{ readonly user: string; readonly text: string; readonly at: number }>;
  /** Wall time from the first user message to the last expected reply, ms. */
  readonly elapsedMs: number;
}

/** Runs the example `name` (a folder of examples/) and resolves once its bot stopped. */
export async function runExample(name: string, options: RunExampleOptions): Promise<ExampleResult> {
  const scenario = SCENARIOS[name];
  if (scenario === undefined) throw new Error(`no example "${name}"; there are: ${Object.keys(SCENARIOS).join(", ")}`);
  const { log } = options;
  const emulator = createEmulator({ seed: 7 });
  const sim = emulator.createBot({ token: TOKEN, username: `${name}_example_bot`, firstName: `${name} example` });
  const server = await startEmulatorServer(emulator, { port: 0 });
  const dataDir = mkdtempSync(join(tmpdir(), `unlost-example-${name}-`));
  const users = new Map<string, SimUser>();
  const names = new Map<number, string>();
  const replies: Array<{ user: string; text: string; at: number }> = [];
  let firstSent = 0;

  const stage: Stage = {
    user(first) {
      let u = users.get(first);
      if (u === undefined) {
        u = emulator.createUser({ firstName: first });
        users.set(first, u);
        names.set(u.id, first);
      }
      return u;
    },
    say(user, text) {
      firstSent ||= Date.now();
      log(`${names.get(user.id) ?? user.id} → bot: ${text}`);
      user.sendText(sim, text);
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    replyTo: (user, text, timeoutMs = 15_000) => until(() => replies.some((r) => r.user === names.get(user.id) && text.test(r.text)), timeoutMs),
    log,
  };

  // The conversation as it happens: every delivery of the bot, printed once.
  let printed = 0;
  const watch = setInterval(() => {
    const delivered = sim.record.messages();
    for (const m of delivered.slice(printed)) {
      const user = names.get(m.chatId) ?? String(m.chatId);
      replies.push({ user, text: m.text ?? `(${m.kind})`, at: Date.now() });
      log(`bot → ${user}: ${(m.text ?? `(${m.kind})`).replace(/\n+/g, " ⏎ ")}`);
    }
    printed = delivered.length;
  }, 25);

  log(`example "${name}": ${scenario.about}`);
  log(`emulator on ${server.url}; starting: unlost run examples/${name}/bot.ts --api-root ${server.url} --data ${dataDir}`);
  const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "run", join(ROOT, "examples", name, "bot.ts"), "--api-root", server.url, "--data", dataDir], {
    cwd: ROOT,
    env: { ...process.env, BOT_TOKEN: TOKEN, LOG_LEVEL: "warn", ...(scenario.env?.(stage) ?? {}) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let started = false;
  const forward = (chunk: Buffer): void => {
    for (const line of chunk.toString().split("\n").filter((l) => l.trim() !== "")) {
      if (line.includes("is running")) started = true;
      log(`  [unlost] ${line}`);
    }
  };
  child.stdout.on("data", forward);
  child.stderr.on("data", forward);

  let missing: ExpectedReply[] = [...scenario.expected];
  let elapsedMs = 0;
  try {
    await until(() => started, 20_000, exited);
    await scenario.play(stage);
    const done = (): boolean => {
      missing = scenario.expected.filter((e) => !replies.some((r) => r.user === e.user && e.text.test(r.text)));
      return missing.length === 0;
    };
    await until(done, options.timeoutMs ?? 30_000, exited).catch(() => undefined);
    elapsedMs = Date.now() - firstSent;
  } finally {
    log(`stopping the bot (SIGTERM)…`);
    child.kill("SIGTERM");
  }
  const exitCode = await exited;
  clearInterval(watch);
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
  if (missing.length === 0 && scenario.summary !== undefined) log(scenario.summary(replies.map((r) => r.text), elapsedMs));
  log(missing.length === 0
    ? `example "${name}": every expected reply arrived (${replies.length} messages from the bot in ${(elapsedMs / 1000).toFixed(1)} s); unlost run exited with ${String(exitCode)}`
    : `example "${name}": MISSING ${missing.map((m) => `${m.user} ${String(m.text)}`).join(", ")}`);
  return { exitCode, missing, replies, elapsedMs };
}

/** Resolves when `condition` holds; rejects after `timeoutMs` or when `stop` settles first. */
async function until(condition: () => boolean, timeoutMs: number, stop?: Promise<unknown>): Promise<void> {
  let stopped = false;
  void stop?.then(() => (stopped = true));
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (stopped) throw new Error("the bot process exited");
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
