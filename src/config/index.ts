/**
 * Configuration of the `unlost` command line: one settings table, read from flags, the
 * environment and an optional `unlost.config.json`, mapped onto `createRuntime` options.
 *
 * @module
 */
export { loadConfig, STORE_FILE_NAME, type CliConfig, type ConfigSources } from "./load.js";
export { readConfigFile, CONFIG_FILE_NAME, type ConfigFile, type LoadedConfigFile } from "./file.js";
export { parseSettingValue, type SettingValue } from "./parse-value.js";
export { SETTINGS, LOG_LEVELS, RUNTIME_SECTIONS, type Setting, type SettingKind } from "./settings.js";
