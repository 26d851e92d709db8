#!/usr/bin/env node
/**
 * The `unlost` command line. One entry point, one command per capability.
 *
 * @module
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isUnlostError, redactSecrets } from "../errors/index.js";
import { DEMO_HELP, runDemoCommand } from "./demo-command.js";
import { EMULATOR_HELP, runEmulatorCommand } from "./emulator-command.js";

const HELP = `Usage: unlost <command> [options]

Commands:
  demo        the emulator with simulated users writing to a demo bot (npm start)
  emulator    the Telegram Bot API emulator, standalone

Run "unlost <command> --help" for a command's options.`;

type Command = (argv: readonly string[], out: (line: string) => void) => Promise<number>;

const COMMANDS: Record<string, { run: Command; help: string }> = {
  demo: { run: runDemoCommand, help: DEMO_HELP },
  emulator: { run: runEmulatorCommand, help: EMULATOR_HELP },
};

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    out(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    err(`unlost: unknown command "${name}".\n\n${HELP}`);
    return 2;
  }
  try {
    return await command.run(rest, out);
  } catch (error) {
    if (isUnlostError(error) && (error.code === "INVALID_ARGUMENT" || error.code === "INVALID_CONFIG" || error.code === "UNAUTHORIZED")) {
      err(`unlost ${name}: ${error.message}`);
      return 2;
    }
    err(`unlost ${name}: ${redactSecrets(error instanceof Error ? (error.stack ?? error.message) : String(error))}`);
    return 1;
  }
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

if (isEntryPoint()) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
