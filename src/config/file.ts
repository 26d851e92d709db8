/**
 * The optional config file (`unlost.config.json` in the working directory, or `--config`):
 * JSON with the keys of the settings table, where the runtime's sections take any
 * `createRuntime` option by its own name. Validated with zod; each problem is reported with
 * the file name and the key.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { UnlostError } from "../errors/index.js";
import { LOG_LEVELS } from "./settings.js";

/** The file name looked for in the working directory. */
export const CONFIG_FILE_NAME = "unlost.config.json";

// Runtime sections are objects here; their fields are checked by the runtime's own schema
// (resolveOptions), so ranges and defaults live in one place.
const section = z.record(z.string(), z.unknown(), { error: "must be an object, e.g. { \"concurrency\": 16 }" });

const fileSchema = z.strictObject({
  $schema: z.string().optional(),
  dataDir: z.string({ error: "must be a folder path (a string)" }).min(1).optional(),
  apiRoot: z.url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. \"http://127.0.0.1:8081\"" }).optional(),
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).optional(),
  mode: z.enum(["polling", "webhook"], { error: "must be \"polling\" or \"webhook\"" }).optional(),
  durability: z.enum(["disk", "process"], { error: "must be \"disk\" or \"process\"" }).optional(),
  polling: section.optional(),
  webhook: section.optional(),
  inbox: section.optional(),
  catchUp: section.optional(),
  outbox: section.optional(),
  downtime: section.optional(),
  shutdown: section.optional(),
  store: section.optional(),
  admin: section.optional(),
  alerts: section.optional(),
});

/** What a config file may hold, once validated. */
export type ConfigFile = z.output<typeof fileSchema>;

/** A config file that was found and read. */
export interface LoadedConfigFile {
  /** Absolute path of the file. */
  readonly path: string;
  /** Its validated content. */
  readonly content: ConfigFile;
}

/**
 * Reads the config file: `explicit` when given (it must exist), else `unlost.config.json` in
 * `cwd` when present. Returns null when there is none.
 *
 * @throws UnlostError `INVALID_CONFIG` naming the file and each wrong key.
 */
export function readConfigFile(explicit: string | undefined, cwd: string): LoadedConfigFile | null {
  const path = resolve(cwd, explicit ?? CONFIG_FILE_NAME);
  if (!existsSync(path)) {
    if (explicit === undefined) return null;
    throw new UnlostError("INVALID_CONFIG", `the config file ${path} does not exist; check the path given to --config (or UNLOST_CONFIG)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UnlostError("INVALID_CONFIG", `${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (typeof json === "object" && json !== null && ("token" in json || "botToken" in json)) {
    // A token in a file tends to end up in a repository; the environment is the one place for it.
    throw new UnlostError("INVALID_CONFIG", `${path}: do not put the bot token in the config file; set the BOT_TOKEN environment variable instead`);
  }
  const admin = typeof json === "object" && json !== null ? (json as { admin?: unknown }).admin : undefined;
  if (typeof admin === "object" && admin !== null && "token" in admin) {
    throw new UnlostError("INVALID_CONFIG", `${path}: do not put the admin token in the config file; set the UNLOST_ADMIN_TOKEN environment variable instead`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${describeIssue(issue)}`);
    throw new UnlostError("INVALID_CONFIG", `invalid config file ${path}:\n${problems.join("\n")}\nThe keys are listed in docs/configuration.md.`, { cause: parsed.error });
  }
  return { path, content: parsed.data };
}

/** One zod issue as "key: what is wrong". */
function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    const known = Object.keys(fileSchema.shape).filter((k) => k !== "$schema").join(", ");
    return `unknown key ${issue.keys.map((k) => `"${k}"`).join(", ")} (known keys: ${known})`;
  }
  const key = issue.path.join(".") || "(file)";
  return `${key}: ${issue.message}`;
}
