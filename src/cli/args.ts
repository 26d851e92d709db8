/**
 * Command-line parsing shared by the CLI's commands: node's own `parseArgs`, with errors that
 * say what was wrong and how to ask for help (exit code 2).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { SETTINGS } from "../config/index.js";
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

/** Units of {@link durationOption}, in ms. */
const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, min: 60_000, h: 3_600_000 };

/**
 * Reads a duration option ("90s", "5m", "1h", "500ms"; a bare number is ms), or throws a clear
 * INVALID_ARGUMENT.
 */
export function durationOption(values: Record<string, string | boolean | undefined>, name: string, fallbackMs: number): number {
  const raw = values[name];
  if (raw === undefined) return fallbackMs;
  const match = typeof raw === "string" ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?$/.exec(raw.trim()) : null;
  const ms = match === null ? Number.NaN : Number(match[1]) * DURATION_UNITS[match[2] ?? "ms"]!;
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) {
    throw new UnlostError("INVALID_ARGUMENT", `--${name} must be a duration such as 90s, 5m, 1h or 500ms (a bare number is ms), got "${String(raw)}"`);
  }
  return Math.round(ms);
}

/** Parsed options and positional arguments of a command. */
export interface CommandLine {
  /** Options by name. */
  readonly values: Record<string, string | boolean | undefined>;
  /** Positional arguments, in order. */
  readonly positionals: string[];
}

/** Like {@link parseCommandArgs}, with positional arguments allowed (a module path, an id). */
export function parseCommandLine(command: string, argv: readonly string[], spec: OptionSpec): CommandLine {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UnlostError("INVALID_ARGUMENT", `${message}. Run "unlost ${command} --help" for the options.`, { cause: error });
  }
}

/**
 * The option specs of the settings table: every setting's flag for `unlost run`, only those
 * every command reads (data folder, API root, webhook URL) for the others; `--config` always.
 */
export function settingOptions(scope: "run" | "operate"): OptionSpec {
  const spec: OptionSpec = { config: { type: "string" } };
  for (const s of SETTINGS) {
    if (s.flag === undefined || (scope === "operate" && s.everywhere !== true)) continue;
    spec[s.flag] = { type: s.kind === "bool" ? "boolean" : "string" };
  }
  return spec;
}
