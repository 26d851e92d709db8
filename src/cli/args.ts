/**
 * Command-line parsing shared by the CLI's commands: node's own `parseArgs`, with errors that
 * say what was wrong and how to ask for help (exit code 2).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UnlostError } from "../errors/index.js";

/** Options as `parseArgs` declares them. */
export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/** Parses `argv` against `spec`; unknown or malformed options become an INVALID_ARGUMENT error. */
export function parseCommandArgs(command: string, argv: readonly string[], spec: OptionSpec): Record<string, string | boolean | undefined> {
  try {
    const { values } = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: false });
    return values as Record<string, string | boolean | undefined>;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UnlostError("INVALID_ARGUMENT", `${message}. Run "unlost ${command} --help" for the options.`, { cause: error });
  }
}

/** Reads an integer option within bounds, or throws a clear INVALID_ARGUMENT. */
export function intOption(values: Record<string, string | boolean | undefined>, name: string, fallback: number, min: number, max: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = typeof raw === "string" && /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UnlostError("INVALID_ARGUMENT", `--${name} must be a whole number from ${min} to ${max}, got "${String(raw)}"`);
  }
  return n;
}
