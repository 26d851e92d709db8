/**
 * `unlost demo` (what `npm start` runs): the emulator with a population of simulated users
 * who keep writing to a demo bot, and instructions to point a bot at it. Later issues turn
 * this into the full crash-and-recover demonstration.
 */
import { createEmulator, startEmulatorServer, type SimUser } from "../emulator/index.js";
import { createRandom } from "../emulator/random.js";
import { untilSignal } from "./emulator-command.js";
import { intOption, parseCommandArgs } from "./args.js";

/** Help text of `unlost demo`. */
export const DEMO_HELP = `Usage: unlost demo [options]

Starts the Bot API emulator with simulated users who keep writing to a demo bot,
prints how to point a bot at it, and a status line every few seconds.

Options:
  --port <n>       port of the emulator (default 8081; 0 picks a free one)
  --users <n>      simulated users (default 5)
  --interval <ms>  how often each user writes (default 3000)
  --duration <s>   stop after this many seconds (default: run until Ctrl-C)
  --seed <n>       seed of the simulation (default 1)
  -h, --help       show this help`;

/** The demo bot's token: fixed, so instructions can be copied. */
export const DEMO_TOKEN = "1000001:DEMO-unlost-demo-token";

/** Runs the demo until its duration passes or a signal arrives. */
export async function runDemoCommand(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const values = parseCommandArgs("demo", argv, {
    port: { type: "string" },
    users: { type: "string" },
    interval: { type: "string" },
    duration: { type: "string" },
    seed: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values["help"] === true) {
    out(DEMO_HELP);
    return 0;
  }
  const seed = intOption(values, "seed", 1, 0, 2 ** 31);
  const userCount = intOption(values, "users", 5, 1, 10_000);
  const interval = intOption(values, "interval", 3000, 10, 3_600_000);
  const duration = values["duration"] === undefined ? undefined : intOption(values, "duration", 0, 1, 86_400);
  const emulator = createEmulator({ autoCreateBots: true, seed });
  const bot = emulator.createBot({ token: DEMO_TOKEN, username: "unlost_demo_bot", firstName: "unlost demo" });
  const names = ["Alice", "Bobur", "Dilnoza", "Farhod", "Madina", "Nodir", "Sardor", "Zarina"];
  const users: SimUser[] = Array.from({ length: userCount }, (_, i) => emulator.createUser({ firstName: names[i % names.length] ?? "User" }));
  const server = await startEmulatorServer(emulator, { port: intOption(values, "port", 8081, 0, 65535) });

  out(`unlost demo: Bot API emulator on ${server.url} with ${userCount} simulated users writing to @unlost_demo_bot.`);
  out(`Point a grammY bot at it:`);
  out(`  const bot = new Bot("${DEMO_TOKEN}", { client: { apiRoot: "${server.url}" } });`);
  out(`  bot.on("message:text", (ctx) => ctx.reply("echo: " + ctx.message.text));`);
  out(`  bot.start();`);
  out(`Faults can be injected meanwhile: curl -X POST ${server.url}/_emulator/faults -d '{"fault":{"kind":"reset"},"probability":0.3}'`);

  const random = createRandom(seed);
  let sent = 0;
  const talk = setInterval(() => {
    const user = users[random.int(0, users.length - 1)];
    if (user === undefined) return;
    user.sendText(bot, `message ${++sent} from ${user.user.first_name}`);
  }, Math.max(1, Math.round(interval / userCount)));
  const status = setInterval(() => {
    out(`[demo] users sent ${sent} · waiting for the bot ${bot.updates.count()} · replies delivered ${bot.record.size}`);
  }, 5_000);

  const stopped = duration === undefined ? untilSignal(server) : new Promise<void>((r) => setTimeout(r, duration * 1000));
  await stopped;
  clearInterval(talk);
  clearInterval(status);
  out(`[demo] done: users sent ${sent}, replies delivered ${bot.record.size}, still waiting ${bot.updates.count()}`);
  await server.close();
  return 0;
}
