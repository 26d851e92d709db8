/**
 * The PostgreSQL backend of the store.
 *
 * @module
 */
export { PostgresStore } from "./store.js";
export { DEFAULT_PG_SCHEMA, DEFAULT_POOL_SIZE } from "./database.js";
export { PG_SCHEMA_VERSION } from "./schema.js";
export { inspectPgStore, pgLocation, type PgStoreInspection } from "./server-inspect.js";
