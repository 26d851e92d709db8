/**
 * What the benches' emulator server processes (bench/*emulator-server.mjs) share: the event
 * line protocol to the bench, numeric `--name value` arguments, and a clean shutdown.
 */

/** Prints one event line for the bench (see bench/lib/child.mjs). */
export function send(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** `--name <number>` pairs; throws `usage` naming the bad argument. */
export function parseNumberArgs(argv, usage) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]?.replace(/^--/, "");
    const value = Number(argv[i + 1]);
    if (name === undefined || !Number.isFinite(value)) throw new Error(`usage: ${usage}; bad "${argv[i]}"`);
    out[name] = value;
    i++;
  }
  return out;
}

/**
 * A shutdown for the server process, run once (on `exit`, end of input, SIGTERM or SIGINT,
 * which it registers): closes the server, prints the emulator's internal errors (exit code 1
 * with `failOnInternalErrors`), and exits. Exiting lets the parent read the result; a
 * `--cpu-prof` profile is still written.
 */
export function serverShutdown(server, emulator, { failOnInternalErrors = true } = {}) {
  let closing = false;
  const shutdown = async (code = 0) => {
    if (closing) return;
    closing = true;
    await server.close();
    if (emulator.internalErrors.length > 0) {
      process.stderr.write(`emulator internal errors: ${emulator.internalErrors.map((e) => e.stack ?? e.message).join("\n")}\n`);
      if (failOnInternalErrors) code = 1;
    }
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  return shutdown;
}

/** The emulator's bot with this token; throws naming the token when there is none. */
export function botOf(emulator, token) {
  const bot = emulator.bot(token ?? "");
  if (bot === undefined) throw new Error(`no bot with token ${JSON.stringify(token)}`);
  return bot;
}

/**
 * Reads one command a line from stdin (`<name> <arg>…`) and runs `commands[name](args)`; `exit`
 * and the end of input run `shutdown`. A command that throws, or an unknown one, is answered
 * with an `error` event.
 */
export async function serveCommands(commands, shutdown) {
  const { createInterface } = await import("node:readline");
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const [command, ...rest] = line.trim().split(/\s+/);
    try {
      if (command === "exit") void shutdown();
      else if (command !== undefined && Object.hasOwn(commands, command)) commands[command](rest);
      else if (command !== "") send({ event: "error", message: `unknown command ${JSON.stringify(line)}` });
    } catch (error) {
      send({ event: "error", message: error instanceof Error ? error.message : String(error) });
    }
  });
  lines.on("close", () => void shutdown());
}
