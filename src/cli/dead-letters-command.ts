/**
 * `unlost dead-letters list|show|retry|purge`: the updates (inbox) and messages (outbox) unlost
 * gave up on, with filters. Retrying puts them back in their chats' queues: a running bot
 * picks them up at once, otherwise the next `unlost run` does.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { loadConfig } from "../config/index.js";
import { UnlostError } from "../errors/index.js";
import { BlobStore } from "../outbound/blobs.js";
import type { FailureReason } from "../outbound/types.js";
import type { DeadLetterFilter, OutboxDeadLetterFilter, Store } from "../store/index.js";
import { intOption, parseCommandLine, settingOptions } from "./args.js";
import { formatInboxList, formatInboxShow, formatOutboxList, formatOutboxShow } from "./dead-letters-format.js";
import { isBotRunning, type LivenessOptions } from "./status-report.js";
import { withStore } from "./store-access.js";

/** Help text of `unlost dead-letters`. */
export const DEAD_LETTERS_HELP = `Usage: unlost dead-letters <list|show|retry|purge> [id] [options]

The updates (inbox, default) or outgoing messages (outbox) unlost gave up on.

  list              the dead letters matching the filters (newest last)
  show <id>         one of them with its error and stack (inbox) or attempt history (outbox)
  retry <id>|--all|<filters>   put them back in their chats' queues: a running bot
                    handles them at once, otherwise the next "unlost run" does
  purge <id>|--all|<filters>   delete them for good

Options:
  --inbox           updates that failed in your handlers (default)
  --outbox          messages Telegram did not accept
  --chat <id>       only this chat (an integer id, or an @username)
  --error <text>    only errors containing this text
  --type <type>     only this update type, e.g. message, callback_query (inbox);
                    "unstorable": updates received without a valid update_id, kept
                    with their text under negative ids (shown and purged, not retried)
  --reason <r>      only this failure reason: permanent, attempts, deadline,
                    unreachable, unauthorized (outbox)
  --limit <n>       list at most this many (default 50, at most 1000)
  --all             retry or purge every dead letter of the side chosen
  --json            JSON instead of text
  --data <dir>      folder of the store (default ./data; or UNLOST_DATA_DIR)
  --config <file>   config file (default ./unlost.config.json when present)
  -h, --help        show this help`;

const ACTIONS = ["list", "show", "retry", "purge"] as const;
type Action = (typeof ACTIONS)[number];
const REASONS: readonly FailureReason[] = ["permanent", "attempts", "deadline", "unreachable", "unauthorized"];

/** Runs `unlost dead-letters`. */
export async function runDeadLettersCommand(argv: readonly string[], out: (line: string) => void): Promise<number> {
  // An unstorable update's id is negative ("show -3"): an id, not an option.
  const negative = (a: string): boolean => /^-\d+$/.test(a);
  const args = argv.includes("--") || !argv.some(negative) ? argv : [...argv.filter((a) => !negative(a)), "--", ...argv.filter(negative)];
  const { values, positionals } = parseCommandLine("dead-letters", args, {
    ...settingOptions("operate"),
    inbox: { type: "boolean" }, outbox: { type: "boolean" }, chat: { type: "string" }, error: { type: "string" },
    type: { type: "string" }, reason: { type: "string" }, limit: { type: "string" }, all: { type: "boolean" },
    json: { type: "boolean" }, help: { type: "boolean", short: "h" },
  });
  if (values["help"] === true) {
    out(DEAD_LETTERS_HELP);
    return 0;
  }
  const [actionText, id, ...extra] = positionals;
  const action = ACTIONS.find((a) => a === actionText);
  if (action === undefined) throw usage(actionText === undefined ? "say what to do: list, show, retry or purge" : `unknown action "${actionText}"; use list, show, retry or purge`);
  if (extra.length > 0) throw usage(`unexpected "${extra.join(" ")}"`);
  if (values["inbox"] === true && values["outbox"] === true) throw usage("choose one of --inbox and --outbox");
  const side = values["outbox"] === true ? "outbox" : "inbox";
  const config = loadConfig({ flags: values, env: process.env, cwd: process.cwd() });
  const liveness = { heartbeatMs: config.runtime.downtime?.heartbeatMs ?? 5_000, mode: config.runtime.mode ?? "polling" };
  const request: Request = { action, side, id, values, json: values["json"] === true, out, liveness };
  validate(request);
  return withStore(config, "dead-letters", (store) => (side === "inbox" ? inbox(store, request) : outbox(store, request)));
}

interface Request {
  readonly action: Action;
  readonly side: "inbox" | "outbox";
  readonly id: string | undefined;
  readonly values: Record<string, string | boolean | undefined>;
  readonly json: boolean;
  readonly out: (line: string) => void;
  readonly liveness: LivenessOptions;
}

function validate(r: Request): void {
  const v = r.values;
  if (r.side === "inbox" && v["reason"] !== undefined) throw usage("--reason applies to --outbox dead letters; for the inbox filter by --type, --chat or --error");
  if (r.side === "outbox" && v["type"] !== undefined) throw usage("--type applies to inbox dead letters; for the outbox filter by --reason, --chat or --error");
  // A typo ("--chat abc") would match nothing and look like "no dead letters": refused instead.
  // An inbox list also shows "update:<id>" for updates without a chat, so that key is accepted there.
  const chat = v["chat"];
  if (typeof chat === "string" && !/^-?\d+$/.test(chat) && !/^@[A-Za-z0-9_]{1,64}$/.test(chat) && !(r.side === "inbox" && /^update:-?\d+$/.test(chat))) {
    throw usage(`--chat must be a chat id (an integer such as 123456789 or -1001234567890) or an @username, got "${chat}"`);
  }
  if (typeof v["reason"] === "string" && !REASONS.includes(v["reason"] as FailureReason)) throw usage(`--reason must be one of ${REASONS.join(", ")}, got "${v["reason"]}"`);
  if (r.action === "show" && r.id === undefined) throw usage(`show needs the id of a dead letter, e.g. "unlost dead-letters show 123" (ids are in "unlost dead-letters list${r.side === "outbox" ? " --outbox" : ""}")`);
  if (r.action === "list" && r.id !== undefined) throw usage(`list takes no id; to see one, use "unlost dead-letters show ${r.id}"`);
  if (r.side === "inbox" && r.id !== undefined && !/^-?\d+$/.test(r.id)) throw usage(`an inbox dead letter's id is its update_id (a number; negative for an unstorable update), got "${r.id}"`);
  if (r.side === "inbox" && r.action === "retry" && r.id?.startsWith("-") === true) {
    throw usage(`dead letter ${r.id} is an unstorable update (received without a valid update_id): there is no update to give a handler, so it cannot be retried; look at it with "unlost dead-letters show ${r.id}", delete it with "unlost dead-letters purge ${r.id}"`);
  }
  if (r.action === "retry" || r.action === "purge") {
    const hasFilter = ["chat", "error", "type", "reason"].some((k) => v[k] !== undefined);
    const ways = [r.id !== undefined, v["all"] === true, hasFilter].filter(Boolean).length;
    if (ways === 0) {
      throw usage(`${r.action} needs an id, --all or a filter (--chat, --error, --${r.side === "inbox" ? "type" : "reason"}); a bare ${r.action} is refused so that nothing is ${r.action === "purge" ? "deleted" : "retried"} by accident`);
    }
    if (ways > 1) throw usage(`give ${r.action} one of: an id, --all, or filters (not several)`);
  }
}

async function inbox(store: Store, r: Request): Promise<number> {
  const dl = store.inbox.deadLetters;
  const filter: DeadLetterFilter = {
    ...(typeof r.values["chat"] === "string" ? { chatKey: r.values["chat"] } : {}),
    ...(typeof r.values["error"] === "string" ? { errorContains: r.values["error"] } : {}),
    ...(typeof r.values["type"] === "string" ? { updateType: r.values["type"] } : {}),
  };
  if (r.action === "list") {
    const page = await dl.list({ ...filter, limit: intOption(r.values, "limit", 50, 1, 1000) });
    emit(r, page, () => formatInboxList(page.items, page.nextCursor !== null, Date.now()));
    return 0;
  }
  const updateId = r.id === undefined ? undefined : Number(r.id);
  if (r.action === "show") {
    const letter = await dl.get(updateId ?? -1);
    if (letter === null) throw notFound(r);
    emit(r, letter, () => formatInboxShow(letter));
    return 0;
  }
  const selector = updateId !== undefined ? { updateId } : r.values["all"] === true ? { all: true as const } : { filter };
  const count = r.action === "retry" ? await dl.retry(selector) : await dl.purge(selector);
  if (updateId !== undefined && count === 0) throw notFound(r);
  await report(store, r, count);
  return 0;
}

async function outbox(store: Store, r: Request): Promise<number> {
  const dl = store.outbox.deadLetters;
  const chat = r.values["chat"];
  const filter: OutboxDeadLetterFilter = {
    ...(typeof chat === "string" ? { chatId: /^-?\d+$/.test(chat) ? Number(chat) : chat } : {}),
    ...(typeof r.values["error"] === "string" ? { errorContains: r.values["error"] } : {}),
    ...(typeof r.values["reason"] === "string" ? { reason: r.values["reason"] as FailureReason } : {}),
  };
  if (r.action === "list") {
    const page = await dl.list({ ...filter, limit: intOption(r.values, "limit", 50, 1, 1000) });
    emit(r, page, () => formatOutboxList(page.items, page.nextCursor !== null, Date.now()));
    return 0;
  }
  if (r.action === "show") {
    const job = await store.outbox.get(r.id ?? "");
    if (job === null || job.state !== "failed") throw notFound(r);
    emit(r, job, () => formatOutboxShow(job));
    return 0;
  }
  const selector = r.id !== undefined ? { id: r.id } : r.values["all"] === true ? { all: true as const } : { filter };
  let count: number;
  if (r.action === "retry") count = await dl.retry(selector);
  else {
    const removed = await dl.purge(selector);
    count = removed.count;
    // The purged jobs' files are no longer needed by anything; the bot sweeps orphans at start,
    // but a store that is not run again would keep them.
    if (removed.blobs.length > 0) await (await BlobStore.open(join(dirname(store.location), "blobs"))).remove(removed.blobs);
  }
  if (r.id !== undefined && count === 0) throw notFound(r);
  await report(store, r, count);
  return 0;
}

async function report(store: Store, r: Request, count: number): Promise<void> {
  const what = r.side === "inbox" ? "update" : "message";
  if (r.json) {
    r.out(JSON.stringify({ action: r.action, side: r.side, count }));
    return;
  }
  if (r.action === "purge") {
    r.out(`purged ${count} dead ${what}${count === 1 ? "" : "s"} (${r.side})`);
    return;
  }
  const running = await isBotRunning(store, Date.now(), r.liveness);
  r.out(`retried ${count} dead ${what}${count === 1 ? "" : "s"} (${r.side}): back in their chats' queues.`);
  r.out(running ? "The running bot handles them now." : 'No bot is running on this store: the next "unlost run" handles them.');
}

function emit(r: Request, value: unknown, text: () => string[]): void {
  if (r.json) r.out(JSON.stringify(value));
  else for (const line of text()) r.out(line);
}

function notFound(r: Request): UnlostError {
  return new UnlostError("INVALID_ARGUMENT", `there is no ${r.side} dead letter with id ${r.id ?? "?"}; "unlost dead-letters list${r.side === "outbox" ? " --outbox" : ""}" shows the ids`);
}

function usage(message: string): UnlostError {
  return new UnlostError("INVALID_ARGUMENT", `${message}. Run "unlost dead-letters --help" for the options.`);
}
