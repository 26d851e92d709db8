/**
 * The options of `unlost demo`, parsed and checked before anything starts: a bad value is an
 * `INVALID_ARGUMENT` error naming the option (the CLI prints it and exits 2).
 */
import { UnlostError } from "../errors/index.js";
import { intOption, parseCommandArgs } from "../cli/args.js";
import { minimumDurationSeconds } from "./timeline.js";

/** Help text of `unlost demo`. */
export const DEMO_HELP = `Usage: unlost demo [options]      (npm start -- [options])

Runs an example bot with unlost (a real child process on SQLite) against the Bot API
emulator while simulated users write to it: messages, commands, photos, button presses,
in private chats and groups. Meanwhile the demo kills the bot with SIGKILL, leaves it down
while users keep writing, injects network faults (resets, 502s, hangs, lost answers) and a
429 storm, and restarts it. It ends with a summary verified against the emulator's record of
what was delivered: sent, handled, replies delivered, lost, duplicated, latency.
Exit code 0 only if nothing was lost.

Options:
  --users <n>      simulated users (default 50; 1-2000); a few groups form among them
  --duration <s>   seconds the users write (default 45; 5-3600); then the bot catches up
  --kills <n>      times the bot is killed with SIGKILL and restarted (default 2; 0-20)
  --seed <n>       seed of everything random: who writes what and when, which calls fail
                   (default 1)
  --compare        run the same scenario at the same time with a stock grammY bot
                   (bot.start()) and show both side by side
  --json           print the verified summary as one JSON object on the last line
  --port <n>       port of the emulator (default 8081; 0 picks a free one)
  -h, --help       show this help

Examples:
  npm start
  npm start -- --compare
  npx unlost demo --users 20 --duration 30 --json`;

/** The demo's options, checked. */
export interface DemoOptions {
  /** `--help`: print the help and do nothing else. */
  readonly help: boolean;
  /** `--users`. */
  readonly users: number;
  /** `--duration`, seconds of load. */
  readonly durationSeconds: number;
  /** `--kills`. */
  readonly kills: number;
  /** `--seed`. */
  readonly seed: number;
  /** `--compare`: also run a stock grammY bot. */
  readonly compare: boolean;
  /** `--json`: the summary as JSON on the last line. */
  readonly json: boolean;
  /** `--port` of the (unlost run's) emulator. */
  readonly port: number;
}

/** Parses `argv`; throws `INVALID_ARGUMENT` with a clear message on a bad option or value. */
export function parseDemoOptions(argv: readonly string[]): DemoOptions {
  const values = parseCommandArgs("demo", argv, {
    users: { type: "string" },
    duration: { type: "string" },
    kills: { type: "string" },
    seed: { type: "string" },
    compare: { type: "boolean" },
    json: { type: "boolean" },
    port: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  const help = values["help"] === true;
  const options: DemoOptions = {
    help,
    users: intOption(values, "users", 50, 1, 2_000),
    durationSeconds: intOption(values, "duration", 45, 5, 3_600),
    kills: intOption(values, "kills", 2, 0, 20),
    seed: intOption(values, "seed", 1, 0, 2 ** 31 - 1),
    compare: values["compare"] === true,
    json: values["json"] === true,
    port: intOption(values, "port", 8081, 0, 65_535),
  };
  const minimum = minimumDurationSeconds(options.kills);
  if (!help && options.durationSeconds < minimum) {
    throw new UnlostError("INVALID_ARGUMENT", `--duration ${options.durationSeconds} is too short for ${options.kills} kills: give at least ${minimum} seconds, or fewer --kills`);
  }
  return options;
}
