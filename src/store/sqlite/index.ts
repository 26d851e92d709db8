/**
 * The embedded SQLite backend.
 *
 * @module
 */
export { SqliteStore } from "./store.js";
export { SqliteDatabase, DEFAULT_SQLITE_PATH } from "./database.js";
export { LATEST_VERSION as SQLITE_SCHEMA_VERSION } from "./schema.js";
