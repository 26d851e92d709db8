/**
 * `unlost doctor` on a PostgreSQL store (`--store postgres://…`): can the server be reached,
 * how full is its connection limit, does the schema exist and at which version, who polls and
 * which instances are alive (the leases), and then the counts and warnings of any store
 * (binding to the token's bot, waiting updates, dead letters). Nothing is created or migrated:
 * the schema is read with one plain connection first, and opened as a store only when it is
 * at this unlost's version.
 *
 * @module
 */
import type { UserFromGetMe } from "grammy/types";
import type { CliConfig } from "../config/index.js";
import { openStore, PG_SCHEMA_VERSION } from "../store/index.js";
import { inspectPgStore, type PgStoreInspection } from "../store/postgres/index.js";
import { openStoreFindings, type Finding } from "./doctor-checks.js";
import { formatDuration } from "./format.js";

/** Share of `max_connections` in use above which doctor warns. */
const CONNECTIONS_WARN_SHARE = 0.8;

/** The findings of the store check for `config.storeUrl` (not null). */
export async function checkServerStore(config: CliConfig & { readonly storeUrl: string }, now: number, bot: Pick<UserFromGetMe, "id" | "username"> | null): Promise<Finding[]> {
  const schema = config.storeSchema ?? undefined;
  let seen: PgStoreInspection;
  try {
    seen = await inspectPgStore({ url: config.storeUrl, ...(schema === undefined ? {} : { schema }) });
  } catch (error) {
    return [{
      check: "store", level: "problem",
      message: `cannot use the PostgreSQL store: ${error instanceof Error ? error.message : String(error)}`,
      fix: "Check that the server runs and accepts connections from here, and the URL's host, port, user, password and database (--store or UNLOST_STORE).",
    }];
  }
  const findings: Finding[] = [];
  const used = `${seen.connections} of its ${seen.maxConnections} connections in use (${seen.unlostConnections} by unlost)`;
  findings.push({ check: "store", level: "ok", message: `PostgreSQL ${seen.serverVersion} answers at ${seen.location}; ${used}` });
  if (seen.connections >= seen.maxConnections * CONNECTIONS_WARN_SHARE) {
    findings.push({ check: "store", level: "warn", message: `the server is near its connection limit (${used}); a new process, or a pool growing under load, will be refused.`, fix: "Lower each process's pool (store.poolSize) or raise max_connections; docs/postgres.md has the sizing rule (processes × poolSize + your other clients < max_connections)." });
  }
  if (!seen.schemaExists || seen.schemaVersion === 0) {
    findings.push({ check: "store", level: "warn", message: `there is no unlost store in ${seen.location} yet.`, fix: "The first \"unlost run --store …\" creates it; if you expected one, check the URL's database and --schema (UNLOST_STORE_SCHEMA)." });
    return findings;
  }
  if (seen.schemaVersion > PG_SCHEMA_VERSION) {
    findings.push({ check: "store", level: "problem", message: `the store at ${seen.location} has schema version ${seen.schemaVersion}, written by a newer unlost (this one: ${PG_SCHEMA_VERSION}).`, fix: "Upgrade unlost to the version that wrote it (downgrading a store is not supported)." });
    return findings;
  }
  findings.push(...leaseFindings(seen, config, now));
  if (seen.schemaVersion < PG_SCHEMA_VERSION) {
    findings.push({ check: "store", level: "warn", message: `the store at ${seen.location} has schema version ${seen.schemaVersion}; this unlost writes ${PG_SCHEMA_VERSION}.`, fix: "The next \"unlost run\" of this version migrates it (once, under a lock); doctor does not change it." });
    return findings;
  }
  const store = await openStore({ url: config.storeUrl, poolSize: 1, ...(schema === undefined ? {} : { schema }) });
  try {
    const counts = await openStoreFindings(store, seen.location, config, now, bot);
    findings.push(...counts.binding, { check: "store", level: "ok", message: `schema version ${seen.schemaVersion} (this unlost: ${PG_SCHEMA_VERSION}); ${counts.summary}` }, ...counts.warnings);
  } finally {
    await store.close();
  }
  return findings;
}

/** The poller and the live instances, from the leases. */
function leaseFindings(seen: PgStoreInspection, config: CliConfig, now: number): Finding[] {
  const alive = seen.leases.filter((l) => l.name.startsWith("worker:") && l.expiresAt > now).map((l) => l.owner);
  const poller = seen.leases.find((l) => l.name === "poller");
  const findings: Finding[] = [];
  findings.push({ check: "store", level: "ok", message: alive.length === 0 ? "no unlost process is running on this store" : `${alive.length} process${alive.length === 1 ? "" : "es"} running on this store: ${alive.join(", ")}` });
  if (config.runtime.mode === "webhook") return findings;
  if (poller !== undefined && poller.expiresAt > now) {
    findings.push({ check: "store", level: "ok", message: `${poller.owner} polls (poller lease epoch ${poller.epoch}, held for another ${formatDuration(poller.expiresAt - now)} unless renewed)` });
    if (!alive.includes(poller.owner)) {
      findings.push({ check: "store", level: "warn", message: `the poller lease is held by ${poller.owner}, whose worker lease ran out: it is gone or stalled; another process takes polling over within a few seconds.`, fix: "If no other process runs, start one (\"unlost run\"); docs/postgres.md explains failover." });
    }
  } else if (alive.length > 0) {
    findings.push({ check: "store", level: "warn", message: "processes run on this store but none holds the poller lease: no updates are fetched right now.", fix: "This lasts a few seconds after the poller stopped; if it persists, check the processes' logs (a webhook set? a store outage?)." });
  }
  return findings;
}
