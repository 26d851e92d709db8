/**
 * Loads the command line's configuration from its three sources, flags > environment >
 * config file > defaults, and maps it onto `createRuntime` options, validated by the
 * runtime's own schema so that ranges and defaults are defined once.
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { ZodError } from "zod";
import { UnlostError, isUnlostError } from "../errors/index.js";
import { resolveOptions, type RuntimeOptions } from "../runtime/options.js";
import { readConfigFile } from "./file.js";
import { parseSettingValue, type SettingValue } from "./parse-value.js";
import { RUNTIME_SECTIONS, SECRET_VARIABLES, SETTINGS } from "./settings.js";

/** Where the configuration is read from. */
export interface ConfigSources {
  /** Parsed flags of the command, by flag name (without `--`). */
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
  /** The environment (normally `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The working directory: relative paths and `unlost.config.json` are found from here. */
  readonly cwd: string;
}

/** The configuration of one command, every source applied. */
export interface CliConfig {
  /** `BOT_TOKEN`, when set. Never print it. */
  readonly token: string | undefined;
  /** The Bot API server, when not Telegram's. */
  readonly apiRoot: string | undefined;
  /** Absolute folder of the store. */
  readonly dataDir: string;
  /** Absolute path of the SQLite file (`<dataDir>/unlost.sqlite`). */
  readonly storePath: string;
  /** The PostgreSQL URL of the store (`--store`, `UNLOST_STORE`), or null for SQLite in `dataDir`. Never print it: it may hold a password. */
  readonly storeUrl: string | null;
  /** The PostgreSQL schema (`--schema`, `UNLOST_STORE_SCHEMA`, `store.schema`), or null for the default `unlost`. */
  readonly storeSchema: string | null;
  /** The log level, when set. */
  readonly logLevel: string | undefined;
  /** The config file that was read, or null. */
  readonly configFile: string | null;
  /** Options for `createRuntime` (store path and every runtime key set by any source). */
  readonly runtime: RuntimeOptions;
  /** Where each key's value came from (`--port`, `UNLOST_WEBHOOK_PORT`, the file), for messages. */
  readonly origins: ReadonlyMap<string, string>;
  /** Things worth telling the user that are not errors (an unknown `UNLOST_*` variable). */
  readonly warnings: readonly string[];
}

/** The SQLite file name inside the data folder. */
export const STORE_FILE_NAME = "unlost.sqlite";

type Layer = Map<string, { value: SettingValue; origin: string }>;
type Tree = Record<string, unknown>;

/**
 * Reads flags, environment and config file, and validates the result.
 *
 * @throws UnlostError `INVALID_CONFIG` naming the flag, variable or file key that is wrong.
 */
export function loadConfig(sources: ConfigSources): CliConfig {
  const { flags, env, cwd } = sources;
  const explicitFile = asText(flags["config"]) ?? nonEmpty(env["UNLOST_CONFIG"]);
  const file = readConfigFile(explicitFile, cwd);
  const fileLabel = file === null ? "" : file.path;

  // Layers from lowest to highest precedence; later ones overwrite earlier ones.
  const fromFile: Layer = new Map();
  const tree: Tree = {};
  if (file !== null) {
    const c = file.content;
    for (const key of ["dataDir", "apiRoot", "logLevel", "mode", "durability"] as const) {
      const value = c[key];
      if (value !== undefined) fromFile.set(key, { value, origin: fileLabel });
    }
    for (const name of RUNTIME_SECTIONS) {
      const value = c[name];
      if (name !== "mode" && value !== undefined) tree[name] = structuredClone(value);
    }
  }
  const fromEnv: Layer = new Map();
  const fromFlags: Layer = new Map();
  for (const setting of SETTINGS) {
    const envText = setting.env === undefined ? undefined : nonEmpty(env[setting.env]);
    if (setting.env !== undefined && envText !== undefined) fromEnv.set(setting.key, { value: parseSettingValue(setting.kind, envText, setting.env), origin: setting.env });
    const flag = setting.flag === undefined ? undefined : flags[setting.flag];
    if (setting.flag !== undefined && flag !== undefined) fromFlags.set(setting.key, { value: parseSettingValue(setting.kind, flag, `--${setting.flag}`), origin: `--${setting.flag}` });
  }

  const merged: Layer = new Map([...fromFile, ...fromEnv, ...fromFlags]);
  const origins = new Map<string, string>();
  for (const [key, { value, origin }] of merged) {
    origins.set(key, origin);
    if (key.includes(".")) setPath(tree, key, value);
  }
  for (const name of RUNTIME_SECTIONS) if (name !== "mode" && tree[name] !== undefined && !origins.has(name)) origins.set(name, fileLabel);

  // A webhook URL given with more precedence than the mode selects webhook mode: `--webhook`
  // alone must be enough, and a file's `"mode": "polling"` must not silently win over it.
  const rank = (key: string): number => (fromFlags.has(key) ? 3 : fromEnv.has(key) ? 2 : fromFile.has(key) || hasPath(tree, key) ? 1 : 0);
  const explicitMode = merged.get("mode")?.value;
  const urlRank = rank("webhook.url");
  const mode = urlRank > rank("mode") ? "webhook" : explicitMode;
  if (mode !== undefined) tree["mode"] = mode;
  const durability = merged.get("durability")?.value;
  if (durability !== undefined) tree["durability"] = durability;

  const dataDirText = merged.get("dataDir")?.value;
  const dataDir = resolve(cwd, typeof dataDirText === "string" ? dataDirText : "data");
  const storePath = join(dataDir, STORE_FILE_NAME);
  const store = (tree["store"] ?? {}) as Tree;
  const storeUrl = merged.get("storeUrl")?.value;
  if (typeof storeUrl !== "string" && store["schema"] !== undefined) {
    throw new UnlostError("INVALID_CONFIG", `store.schema (${origins.get("store.schema") ?? "the config file"}) names a PostgreSQL schema, but the store is SQLite in ${dataDir}: give the PostgreSQL URL too (--store or UNLOST_STORE), or drop the schema.`);
  }
  tree["store"] = typeof storeUrl === "string" ? { ...store, url: storeUrl } : { ...store, path: storePath };

  validateRuntime(tree, origins);
  const apiRoot = merged.get("apiRoot")?.value;
  const logLevel = merged.get("logLevel")?.value;
  return {
    token: nonEmpty(env["BOT_TOKEN"]),
    apiRoot: typeof apiRoot === "string" ? apiRoot : undefined,
    dataDir,
    storePath: isAbsolute(storePath) ? storePath : resolve(storePath),
    storeUrl: typeof storeUrl === "string" ? storeUrl : null,
    storeSchema: typeof store["schema"] === "string" ? store["schema"] : null,
    logLevel: typeof logLevel === "string" ? logLevel : undefined,
    configFile: file?.path ?? null,
    // Validated just above by the runtime's own schema.
    runtime: tree as RuntimeOptions,
    origins,
    warnings: unknownVariables(env),
  };
}

/** Checks the runtime options with `resolveOptions`, naming where each wrong value came from. */
function validateRuntime(tree: Tree, origins: ReadonlyMap<string, string>): void {
  try {
    resolveOptions(tree as RuntimeOptions);
  } catch (error) {
    if (!isUnlostError(error, "INVALID_CONFIG")) throw error;
    const cause = error.cause;
    if (!(cause instanceof ZodError)) throw error;
    const problems = cause.issues.map((issue) => {
      const key = issue.path.join(".");
      const origin = originOf(key, origins);
      const what = issue.code === "unrecognized_keys" ? `unknown key ${issue.keys.map((k) => `"${k}"`).join(", ")}` : issue.message;
      return `  - ${key || "(options)"}${origin === undefined ? "" : ` (from ${origin})`}: ${what}`;
    });
    throw new UnlostError("INVALID_CONFIG", `invalid configuration:\n${problems.join("\n")}\nThe settings are listed in docs/configuration.md.`, { cause });
  }
}

/** The origin of `key` or of its closest parent that has one. */
function originOf(key: string, origins: ReadonlyMap<string, string>): string | undefined {
  for (let k = key; k !== ""; k = k.includes(".") ? k.slice(0, k.lastIndexOf(".")) : "") {
    const origin = origins.get(k);
    if (origin !== undefined && origin !== "") return origin;
  }
  return undefined;
}

/** `UNLOST_*` variables that no setting reads: most likely a typo, worth a warning. */
function unknownVariables(env: Readonly<Record<string, string | undefined>>): string[] {
  const known = new Set(["UNLOST_CONFIG", ...SECRET_VARIABLES, ...SETTINGS.flatMap((s) => (s.env === undefined ? [] : [s.env]))]);
  return Object.keys(env)
    .filter((name) => name.startsWith("UNLOST_") && !known.has(name))
    .map((name) => `the environment variable ${name} is not an unlost setting (see docs/configuration.md); it is ignored`);
}

function setPath(tree: Tree, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1] as string] = value;
}

function hasPath(tree: Tree, dotted: string): boolean {
  let node: unknown = tree;
  for (const part of dotted.split(".")) {
    if (typeof node !== "object" || node === null) return false;
    node = (node as Tree)[part];
  }
  return node !== undefined;
}

function asText(value: string | boolean | undefined): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
