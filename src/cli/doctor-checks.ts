/**
 * The checks of `unlost doctor`. Each returns findings: what it saw, and for anything wrong one
 * sentence on the problem and one on the fix.
 *
 * @module
 */
import { constants, existsSync } from "node:fs";
import { access, statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { Api, GrammyError, HttpError } from "grammy";
import type { UserFromGetMe, WebhookInfo } from "grammy/types";
import type { CliConfig } from "../config/index.js";
import { isUnlostError, redactSecrets } from "../errors/index.js";
import { SQLITE_SCHEMA_VERSION, SqliteStore, type Store } from "../store/index.js";
import { checkServerStore } from "./doctor-postgres.js";
import { formatDuration } from "./format.js";
import { isBotRunning } from "./status-report.js";

/** How serious a finding is: `problem` makes doctor exit 1, `warn` does not. */
export type FindingLevel = "ok" | "warn" | "problem";

/** One thing doctor found. */
export interface Finding {
  /** Which check: token, webhook, store or disk. */
  readonly check: "token" | "webhook" | "store" | "disk";
  readonly level: FindingLevel;
  /** What was found, in one sentence. */
  readonly message: string;
  /** How to fix it, in one sentence (warn and problem only). */
  readonly fix?: string;
}

/** Free space below this is a problem: SQLite needs room for its WAL and checkpoints. */
const DISK_PROBLEM_BYTES = 100 * 2 ** 20;
/** Free space below this is worth a warning. */
const DISK_WARN_BYTES = 1024 * 2 ** 20;

/** getMe: is the token accepted? Returns the bot when it is, for the webhook check. */
export async function checkToken(api: Api, apiRoot: string): Promise<{ finding: Finding; me: UserFromGetMe | null }> {
  try {
    const me = await api.getMe();
    return { me, finding: { check: "token", level: "ok", message: `the token is accepted: the bot is @${me.username} (id ${me.id})` } };
  } catch (error) {
    if (error instanceof GrammyError && error.error_code === 401) {
      return { me: null, finding: { check: "token", level: "problem", message: "Telegram rejected the token (401 Unauthorized): it is mistyped or was revoked.", fix: "Copy the current token from @BotFather (/mybots → your bot → API Token) into BOT_TOKEN." } };
    }
    const why = error instanceof HttpError || error instanceof Error ? redactSecrets(error.message) : String(error);
    return { me: null, finding: { check: "token", level: "problem", message: `cannot reach the Bot API at ${apiRoot}: ${why}`, fix: "Check the network (proxy, firewall, DNS), or point --api-root (UNLOST_API_ROOT) at the right server." } };
  }
}

/** getWebhookInfo: does Telegram's webhook state match how the bot should receive updates? */
export async function checkWebhook(api: Api, config: CliConfig, now: number): Promise<Finding[]> {
  let info: WebhookInfo;
  try {
    info = await api.getWebhookInfo();
  } catch (error) {
    return [{ check: "webhook", level: "warn", message: `could not read the webhook state: ${error instanceof Error ? redactSecrets(error.message) : String(error)}`, fix: "Run doctor again; if it persists, check the Bot API server." }];
  }
  const wanted = config.runtime.mode === "webhook" ? config.runtime.webhook?.url : undefined;
  const pending = `${info.pending_update_count} update${info.pending_update_count === 1 ? "" : "s"} waiting at Telegram`;
  const findings: Finding[] = [];
  if (wanted === undefined) {
    if (info.url !== "") {
      findings.push({
        check: "webhook", level: "problem",
        message: `a webhook is set (${info.url}) but this bot is configured for polling; while it is set, polling fails with 409 Conflict (${pending}).`,
        fix: "If nothing else serves that webhook, just start the bot: \"unlost run\" removes it and keeps the pending updates; if another deployment serves it, stop that one first (or run this one with --webhook).",
      });
    } else findings.push({ check: "webhook", level: "ok", message: `no webhook is set, as polling needs (${pending})` });
  } else if (info.url === "") {
    findings.push({ check: "webhook", level: "warn", message: `no webhook is registered yet (${pending}).`, fix: `"unlost run --webhook ${wanted}" registers it on start.` });
  } else if (info.url !== wanted) {
    findings.push({ check: "webhook", level: "warn", message: `the registered webhook is ${info.url}, not ${wanted} as configured.`, fix: "\"unlost run\" registers the configured URL on start; check that no other deployment re-registers its own." });
  } else findings.push({ check: "webhook", level: "ok", message: `the webhook is ${info.url} (${pending})` });

  if (info.last_error_date !== undefined && now - info.last_error_date * 1000 < 24 * 3600_000) {
    findings.push({
      check: "webhook", level: wanted === undefined ? "warn" : "problem",
      message: `Telegram's last webhook delivery failed ${formatDuration(now - info.last_error_date * 1000)} ago: ${info.last_error_message ?? "no message"}.`,
      fix: "Make sure the webhook URL is reachable from the internet over HTTPS with a valid certificate, and that the receiver runs (unlost run --webhook … --port …).",
    });
  }
  return findings;
}

/**
 * The store: opens, schema version, SQLite's quick integrity check, counts, and whether it
 * belongs to the token's bot (`bot`, from getMe; null when the token could not be checked).
 */
export async function checkStore(config: CliConfig, now: number, bot: Pick<UserFromGetMe, "id" | "username"> | null = null): Promise<Finding[]> {
  if (config.storeUrl !== null) return checkServerStore({ ...config, storeUrl: config.storeUrl }, now, bot);
  if (!existsSync(config.storePath)) {
    return [{ check: "store", level: "warn", message: `there is no store yet at ${config.storePath}.`, fix: "The first \"unlost run\" creates it; if you expected one, point --data (UNLOST_DATA_DIR) at the bot's data folder." }];
  }
  let store: SqliteStore;
  try {
    store = SqliteStore.open({ path: config.storePath });
  } catch (error) {
    if (isUnlostError(error, "STORE_VERSION_UNSUPPORTED")) {
      return [{ check: "store", level: "problem", message: `the store at ${config.storePath} was written by a newer unlost.`, fix: "Upgrade unlost to the version that wrote it (downgrading a store is not supported)." }];
    }
    return [{ check: "store", level: "problem", message: `the store at ${config.storePath} cannot be opened: ${error instanceof Error ? error.message : String(error)}`, fix: "Check the file's permissions and that it is an unlost store; restore it from a backup if it is damaged." }];
  }
  try {
    const findings: Finding[] = store.warnings.map((w) => ({ check: "store", level: "warn", message: w.message, fix: w.fix }));
    const quick: unknown = store.database.handle.pragma("quick_check", { simple: true });
    const version: unknown = store.database.handle.pragma("user_version", { simple: true });
    if (quick !== "ok") {
      findings.push({ check: "store", level: "problem", message: `SQLite's integrity check failed on ${config.storePath}: ${String(quick)}.`, fix: "Stop the bot, copy the data folder, and rebuild the file with \"sqlite3 unlost.sqlite .recover | sqlite3 fixed.sqlite\" (or restore a backup)." });
    }
    const counts = await openStoreFindings(store, config.storePath, config, now, bot);
    findings.push(...counts.binding, {
      check: "store", level: quick === "ok" ? "ok" : "problem",
      message: `${config.storePath} opens, schema version ${String(version)} (this unlost: ${SQLITE_SCHEMA_VERSION}), integrity ${quick === "ok" ? "ok" : "damaged"}; ${counts.summary}`,
    }, ...counts.warnings);
    return findings;
  } finally {
    await store.close();
  }
}

/** What an open store says: its binding to the token's bot, its counts, and what waits or failed. */
export async function openStoreFindings(store: Store, where: string, config: CliConfig, now: number, bot: Pick<UserFromGetMe, "id" | "username"> | null): Promise<{ binding: Finding[]; summary: string; warnings: Finding[] }> {
  const liveness = { heartbeatMs: config.runtime.downtime?.heartbeatMs ?? 5_000, mode: config.runtime.mode ?? "polling" };
  const [inbox, outbox, running, boundBot] = await Promise.all([store.inbox.stats({ now }), store.outbox.stats({ now }), isBotRunning(store, now, liveness), store.state.boundBot()]);
  const binding: Finding[] = [];
  if (bot !== null && boundBot !== null && boundBot !== bot.id) {
    binding.push({
      check: "store", level: "problem",
      message: `the store at ${where} belongs to bot ${boundBot}, but BOT_TOKEN is bot ${bot.id}'s (@${bot.username}); "unlost run" refuses to start on it (its offset would drop this bot's waiting updates).`,
      fix: `Give bot ${bot.id} its own ${store.kind === "sqlite" ? "data folder (--data <dir> or UNLOST_DATA_DIR)" : "schema (--schema <name> or UNLOST_STORE_SCHEMA)"}, or use bot ${boundBot}'s token with this one.`,
    });
  }
  const warnings: Finding[] = [];
  if (inbox.dead > 0) warnings.push({ check: "store", level: "warn", message: `${inbox.dead} updates are dead letters (their handler kept failing).`, fix: "See them with \"unlost dead-letters list\", fix the handler, then \"unlost dead-letters retry --all\"." });
  if (outbox.byState.failed > 0) warnings.push({ check: "store", level: "warn", message: `${outbox.byState.failed} outgoing messages failed for good.`, fix: "See why with \"unlost dead-letters list --outbox\"; retry them with \"unlost dead-letters retry --outbox --all\" once the cause is gone." });
  if (!running && inbox.pending + inbox.inflight > 0) {
    warnings.push({ check: "store", level: "warn", message: `${inbox.pending + inbox.inflight} updates wait (the oldest for ${formatDuration(inbox.oldestOpenAgeMs)}) and no bot is running on this store.`, fix: "Start the bot with \"unlost run <bot-module>\"; it handles them first." });
  }
  const summary = `inbox ${inbox.pending} pending, ${inbox.inflight} in flight, ${inbox.dead} dead; outbox ${outbox.byState.queued} queued, ${outbox.byState.failed} failed`;
  return { binding, summary, warnings };
}

/** Free space and write access in the data folder (or its closest existing parent). */
export async function checkDisk(dataDir: string): Promise<Finding[]> {
  let dir = dataDir;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  const findings: Finding[] = [];
  try {
    await access(dir, constants.W_OK);
  } catch {
    findings.push({ check: "disk", level: "problem", message: `${dir} is not writable by this user, so the store cannot be written.`, fix: "Run the bot as the folder's owner, or give this user write access (chown/chmod), or choose another --data folder." });
  }
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  const text = `${(free / 2 ** 30).toFixed(free < 2 ** 30 ? 2 : 1)} GiB free in ${dir}`;
  if (free < DISK_PROBLEM_BYTES) findings.push({ check: "disk", level: "problem", message: `only ${text}: SQLite needs room for its write-ahead log, and a full disk stops the bot.`, fix: "Free some space (old logs, caches) or move the data folder to a bigger disk (--data)." });
  else if (free < DISK_WARN_BYTES) findings.push({ check: "disk", level: "warn", message: `only ${text}.`, fix: "Free some space before the store and logs fill the disk." });
  else findings.push({ check: "disk", level: "ok", message: text });
  return findings;
}
