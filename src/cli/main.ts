#!/usr/bin/env node
/**
 * The `unlost` command line. One entry point, one command per capability.
 *
 * @module
 */
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isUnlostError, Scrubber } from "../errors/index.js";
import { DEMO_HELP, runDemoCommand } from "./demo-command.js";
import { DASHBOARD_HELP, runDashboardCommand } from "./dashboard-command.js";
import { DEAD_LETTERS_HELP, runDeadLettersCommand } from "./dead-letters-command.js";
import { DOCTOR_HELP, runDoctorCommand } from "./doctor-command.js";
import { MIGRATE_STORE_HELP, runMigrateStoreCommand } from "./migrate-store-command.js";
import { EMULATOR_HELP, runEmulatorCommand } from "./emulator-command.js";
import { RUN_HELP, runRunCommand } from "./run-command.js";
import { STATUS_HELP, runStatusCommand } from "./status-command.js";
import { TRACE_HELP, runTraceCommand } from "./trace-command.js";

const HELP = `Usage: unlost <command> [options]

Commands:
  run <bot-module>  run your grammY bot under unlost (BOT_TOKEN from the environment)
  status            inbox and outbox counts, heartbeat, offline windows, dead letters
  dead-letters      list, show, retry or purge what unlost gave up on (inbox and outbox)
  trace             why did this user get no reply? an update's or a chat's timeline
  doctor            check token, webhook, store and disk, with a fix for each problem
  migrate-store     copy a bot's SQLite store to PostgreSQL (--from ./data --to postgres://…)
  dashboard         serve /metrics, /healthz, /readyz of a store without running the bot
  demo              watch unlost survive kill -9, faults and a 429 storm (npm start)
  emulator          the Telegram Bot API emulator, standalone

Configuration: flags > UNLOST_* environment variables > unlost.config.json > defaults
(docs/configuration.md).

Run "unlost help <command>" (or "unlost <command> --help") for a command's options,
"unlost --version" for the version.`;

type Command = (argv: readonly string[], out: (line: string) => void, err: (line: string) => void) => Promise<number>;

// `redact`: the command handles the real token, so every line it prints is redacted. The demo
// and the emulator print made-up tokens on purpose (to be copied), so theirs are kept.
// `json`: the command has --json; with it, an error is printed as JSON too, so a script that
// parses the output gets an object whatever happened.
const COMMANDS: Record<string, { run: Command; help: string; redact?: boolean; json?: boolean }> = {
  run: { run: runRunCommand, help: RUN_HELP, redact: true },
  status: { run: runStatusCommand, help: STATUS_HELP, redact: true, json: true },
  "dead-letters": { run: runDeadLettersCommand, help: DEAD_LETTERS_HELP, redact: true, json: true },
  trace: { run: runTraceCommand, help: TRACE_HELP, redact: true, json: true },
  doctor: { run: runDoctorCommand, help: DOCTOR_HELP, redact: true, json: true },
  "migrate-store": { run: runMigrateStoreCommand, help: MIGRATE_STORE_HELP, redact: true, json: true },
  dashboard: { run: runDashboardCommand, help: DASHBOARD_HELP, redact: true },
  demo: { run: runDemoCommand, help: DEMO_HELP },
  emulator: { run: runEmulatorCommand, help: EMULATOR_HELP },
};

/** Error codes that mean "fix your input" (exit 2) rather than "something broke" (exit 1). */
const USAGE_CODES: ReadonlySet<string> = new Set(["INVALID_ARGUMENT", "INVALID_CONFIG", "UNAUTHORIZED", "STORE_BOT_MISMATCH", "BOT_MODULE"]);

/** unlost's version, from its package.json (two folders up from both src/cli and dist/cli). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return typeof pkg.version === "string" ? pkg.version : "unknown";
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], rawOut: (line: string) => void = console.log, rawErr: (line: string) => void = console.error): Promise<number> {
  const [name, ...rest] = argv;
  // Every line a token-handling command prints passes through token redaction, whatever it
  // quotes (errors of HTTP clients, of user modules, errors stored in dead letters).
  // (The store and the logs are scrubbed where text enters them; this is the last line for what
  // a command quotes from elsewhere, and for stores written before that.)
  const scrubber = new Scrubber([process.env["BOT_TOKEN"], process.env["UNLOST_WEBHOOK_SECRET"], process.env["UNLOST_ADMIN_TOKEN"]]);
  const redact = name !== undefined && COMMANDS[name]?.redact === true;
  const out = (line: string): void => rawOut(redact ? scrubber.scrub(line) : line);
  const err = (line: string): void => rawErr(redact ? scrubber.scrub(line) : line);
  if (name === "--version" || name === "-v" || name === "version") {
    out(version());
    return 0;
  }
  if (name === "help" && rest[0] !== undefined) return main([rest[0], "--help"], rawOut, rawErr);
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    out(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    err(`unlost: unknown command "${name}".\n\n${HELP}`);
    return 2;
  }
  const json = command.json === true && rest.includes("--json");
  try {
    return await command.run(rest, out, err);
  } catch (error) {
    const usage = isUnlostError(error) && USAGE_CODES.has(error.code);
    const code = usage ? 2 : 1;
    if (json) {
      // On stdout, where the command's JSON would have been: `unlost status --json | jq` sees
      // an object either way. The stack stays out of it (message only).
      const message = error instanceof Error ? error.message : String(error);
      out(JSON.stringify({ error: { code: isUnlostError(error) ? error.code : "INTERNAL", message: scrubber.scrub(message) } }));
      return code;
    }
    if (usage) err(`unlost ${name}: ${error.message}`);
    else err(`unlost ${name}: ${scrubber.scrub(error instanceof Error ? (error.stack ?? error.message) : String(error))}`);
    return code;
  }
}

/**
 * Runs the CLI as the program: `process.argv`, exit code, and a forced exit shortly after the
 * command ended. Used by this file as node's entry point and by the `bin/unlost.js` shim.
 */
export function runProgram(argv: readonly string[] = process.argv.slice(2)): void {
  void main(argv).then((code) => {
    process.exitCode = code;
    // A bot module may leave timers or sockets behind after the runtime stopped; they must not
    // keep a stopped bot's process alive. Unref'd: a process with nothing left exits at once.
    setTimeout(() => process.exit(code), 2_000).unref();
  });
}

/** True when this file is the program node runs (also through npm's bin symlink), not an import. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) runProgram();
