/**
 * `unlost emulator`: the Bot API emulator standalone. Any well-formed token gets its own bot
 * the first time it is used; point a bot at it with `apiRoot`.
 */
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../emulator/index.js";
import { intOption, parseCommandArgs } from "./args.js";

/** Help text of `unlost emulator`. */
export const EMULATOR_HELP = `Usage: unlost emulator [options]

Runs a Telegram Bot API emulator. Any well-formed token (<digits>:<secret>) gets its
own bot the first time it is used; point your bot at it with apiRoot.

Options:
  --port <n>      port to listen on (default 8081; 0 picks a free one)
  --host <addr>   interface to listen on (default 127.0.0.1)
  --seed <n>      seed of ids and fault draws (default 1)
  --no-limits     switch Telegram's flood limits off (default: on)
  -h, --help      show this help

Control API (JSON): GET /_emulator/health, POST /_emulator/faults,
POST /_emulator/clock/advance, POST /_emulator/users, POST /_emulator/users/<id>/messages,
POST /_emulator/users/<id>/press|edits|block|unblock, GET /_emulator/bots,
GET /_emulator/bots/<id>/record|edits|callback-answers (docs/emulator.md)`;

/** Runs `unlost emulator` until SIGINT/SIGTERM. */
export async function runEmulatorCommand(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const values = parseCommandArgs("emulator", argv, {
    port: { type: "string" },
    host: { type: "string" },
    seed: { type: "string" },
    "no-limits": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values["help"] === true) {
    out(EMULATOR_HELP);
    return 0;
  }
  const emulator = createEmulator({
    autoCreateBots: true,
    seed: intOption(values, "seed", 1, 0, 2 ** 31),
    ...(values["no-limits"] === true ? { limits: false as const } : {}),
  });
  const server = await startEmulatorServer(emulator, {
    port: intOption(values, "port", 8081, 0, 65535),
    host: typeof values["host"] === "string" ? values["host"] : "127.0.0.1",
  });
  out(`unlost emulator listening on ${server.url}`);
  out(`point a grammY bot at it: new Bot("123456:any-secret", { client: { apiRoot: "${server.url}" } })`);
  await untilSignal(server);
  return 0;
}

/** Resolves after SIGINT or SIGTERM, once the server is closed. */
export function untilSignal(server: EmulatorServer): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      void server.close().then(resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
